// Weight quantization for the converter: blockwise symmetric int4/int8 in the layout of onnxruntime's MatMulNBits
// (com.microsoft), and float16. One function per layout, each on one tensor at a time.

/** Blockwise-quantized matrix in MatMulNBits' layout (rows = the output features N, columns = the inputs K). */
export interface BlockQuantized {
  bits: 4 | 8;
  blockSize: number;
  rows: number;
  cols: number;
  /** Blocks per row: ceil(cols / blockSize). */
  blocks: number;
  /** [rows, blocks, blockSize * bits / 8] unsigned codes; 4-bit codes two a byte, the first in the low nibble. */
  data: Uint8Array;
  /** [rows * blocks] one scale per block. */
  scales: Float32Array;
}

/** The code of zero: MatMulNBits' implied zero point when none is given (2^(bits − 1)). */
export const zeroPoint = (bits: 4 | 8): number => 1 << (bits - 1);

/**
 * Quantizes a row-major [rows, cols] matrix block by block along each row: code = round(w / scale) + zeroPoint with
 * scale = max |w| of the block / (2^(bits−1) − 1), so the block's largest weight is exact and the grid is symmetric
 * (the most negative code is left unused). A last block shorter than blockSize is padded with zeros.
 */
export function quantizeBlocks(w: Float32Array, rows: number, cols: number, bits: 4 | 8, blockSize: number): BlockQuantized {
  if (w.length !== rows * cols) throw new Error(`quantizeBlocks: ${w.length} values for a [${rows}, ${cols}] matrix`);
  if (blockSize < 16 || (blockSize & (blockSize - 1)) !== 0) throw new Error(`quantizeBlocks: block size ${blockSize} is not a power of two ≥ 16`);
  const blocks = Math.ceil(cols / blockSize);
  const blob = (blockSize * bits) / 8;
  const data = new Uint8Array(rows * blocks * blob);
  const scales = new Float32Array(rows * blocks);
  const zp = zeroPoint(bits);
  const top = zp - 1;
  for (let r = 0; r < rows; r++) {
    const row = r * cols;
    for (let b = 0; b < blocks; b++) {
      const from = b * blockSize;
      const to = Math.min(cols, from + blockSize);
      let amax = 0;
      for (let c = from; c < to; c++) amax = Math.max(amax, Math.abs(w[row + c]));
      const scale = amax / top;
      const inv = scale > 0 ? 1 / scale : 0;
      scales[r * blocks + b] = scale;
      const out = (r * blocks + b) * blob;
      for (let j = 0; j < blockSize; j++) {
        const c = from + j;
        const q = c < to ? Math.max(-top, Math.min(top, Math.round(w[row + c] * inv))) + zp : zp;
        if (bits === 8) data[out + j] = q;
        else data[out + (j >> 1)] |= j & 1 ? q << 4 : q;
      }
    }
  }
  return { bits, blockSize, rows, cols, blocks, data, scales };
}

/** The matrix a BlockQuantized stands for, as float32 [rows, cols] (for tests and error measurements). */
export function dequantizeBlocks(q: BlockQuantized): Float32Array {
  const out = new Float32Array(q.rows * q.cols);
  const blob = (q.blockSize * q.bits) / 8;
  const zp = zeroPoint(q.bits);
  for (let r = 0; r < q.rows; r++) {
    for (let c = 0; c < q.cols; c++) {
      const b = Math.floor(c / q.blockSize);
      const j = c % q.blockSize;
      const at = (r * q.blocks + b) * blob;
      const code = q.bits === 8 ? q.data[at + j] : (q.data[at + (j >> 1)] >> ((j & 1) * 4)) & 15;
      out[r * q.cols + c] = (code - zp) * q.scales[r * q.blocks + b];
    }
  }
  return out;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half-precision bit pattern of each value, rounded to nearest even (overflow to ±Infinity). */
export function toFloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    f32[0] = values[i];
    const x = u32[0];
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 : 0);
      continue;
    }
    const e = exp - 127 + 15;
    if (e >= 31) {
      out[i] = sign | 0x7c00;
      continue;
    }
    if (e <= 0) {
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      mant |= 0x800000;
      const shift = 14 - e;
      let half = mant >>> shift;
      const rest = mant & ((1 << shift) - 1);
      const mid = 1 << (shift - 1);
      if (rest > mid || (rest === mid && half & 1)) half++;
      out[i] = sign | half;
      continue;
    }
    let half = (e << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++; // a carry into the exponent is the right rounding
    out[i] = sign | half;
  }
  return out;
}
