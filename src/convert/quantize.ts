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
  /**
   * 4 bits: [rows, ceil(blocks / 2)] each block's zero code, two a byte as the codes. 8 bits: none (symmetric, the
   * implied zero code 128).
   */
  zeroPoints?: Uint8Array;
}

/** The code of zero when no zero points are stored: MatMulNBits' implied 2^(bits − 1). */
export const zeroPoint = (bits: 4 | 8): number => 1 << (bits - 1);

/**
 * Quantizes a row-major [rows, cols] matrix block by block along each row (w ≈ (code − zero) · scale). 8 bits:
 * symmetric, scale = max |w| / 127. 4 bits: asymmetric over the block's [min, max] (16 levels are too few to leave
 * one side's unused), and of a few narrower ranges the one with the least squared error. A last block shorter than
 * blockSize is padded with zeros.
 */
export function quantizeBlocks(w: Float32Array, rows: number, cols: number, bits: 4 | 8, blockSize: number): BlockQuantized {
  if (w.length !== rows * cols) throw new Error(`quantizeBlocks: ${w.length} values for a [${rows}, ${cols}] matrix`);
  if (blockSize < 16 || (blockSize & (blockSize - 1)) !== 0) throw new Error(`quantizeBlocks: block size ${blockSize} is not a power of two ≥ 16`);
  const blocks = Math.ceil(cols / blockSize);
  const blob = (blockSize * bits) / 8;
  const data = new Uint8Array(rows * blocks * blob);
  const scales = new Float32Array(rows * blocks);
  const zpBytes = Math.ceil(blocks / 2);
  const zeroPoints = bits === 4 ? new Uint8Array(rows * zpBytes) : undefined;
  const levels = (1 << bits) - 1;
  for (let r = 0; r < rows; r++) {
    const row = r * cols;
    for (let b = 0; b < blocks; b++) {
      const from = b * blockSize;
      const to = Math.min(cols, from + blockSize);
      let lo = 0;
      let hi = 0;
      for (let c = from; c < to; c++) {
        lo = Math.min(lo, w[row + c]);
        hi = Math.max(hi, w[row + c]);
      }
      let scale: number;
      let zero: number;
      if (bits === 8) {
        scale = Math.max(-lo, hi) / 127;
        zero = 128;
      } else {
        [scale, zero] = bestRange(w, row + from, row + to, lo, hi, levels);
      }
      const inv = scale > 0 ? 1 / scale : 0;
      scales[r * blocks + b] = scale;
      if (zeroPoints) zeroPoints[r * zpBytes + (b >> 1)] |= b & 1 ? zero << 4 : zero;
      const out = (r * blocks + b) * blob;
      for (let j = 0; j < blockSize; j++) {
        const c = from + j;
        const q = c < to ? Math.max(0, Math.min(levels, Math.round(w[row + c] * inv) + zero)) : zero;
        if (bits === 8) data[out + j] = q;
        else data[out + (j >> 1)] |= j & 1 ? q << 4 : q;
      }
    }
  }
  return { bits, blockSize, rows, cols, blocks, data, scales, zeroPoints };
}

/** Ranges tried per 4-bit block: [lo, hi] shrunk by up to a quarter. */
const SEARCH = 8;

/** Scale and zero code for values w[from, to) (range [lo, hi], holding 0) with the least squared error. */
function bestRange(w: Float32Array, from: number, to: number, lo: number, hi: number, levels: number): [number, number] {
  if (hi - lo === 0) return [0, 0];
  let best = Infinity;
  let result: [number, number] = [0, 0];
  for (let k = 0; k <= SEARCH; k++) {
    const shrink = 1 - (0.25 * k) / SEARCH;
    const scale = ((hi - lo) * shrink) / levels;
    const zero = Math.max(0, Math.min(levels, Math.round((-lo * shrink) / scale)));
    const inv = 1 / scale;
    let err = 0;
    for (let c = from; c < to; c++) {
      const q = Math.max(0, Math.min(levels, Math.round(w[c] * inv) + zero));
      const d = w[c] - (q - zero) * scale;
      err += d * d;
    }
    if (err < best) [best, result] = [err, [scale, zero]];
  }
  return result;
}

/** The matrix a BlockQuantized stands for, as float32 [rows, cols] (for tests and error measurements). */
export function dequantizeBlocks(q: BlockQuantized): Float32Array {
  const out = new Float32Array(q.rows * q.cols);
  const blob = (q.blockSize * q.bits) / 8;
  const zpBytes = Math.ceil(q.blocks / 2);
  for (let r = 0; r < q.rows; r++) {
    for (let c = 0; c < q.cols; c++) {
      const b = Math.floor(c / q.blockSize);
      const j = c % q.blockSize;
      const at = (r * q.blocks + b) * blob;
      const code = q.bits === 8 ? q.data[at + j] : (q.data[at + (j >> 1)] >> ((j & 1) * 4)) & 15;
      const zero = q.zeroPoints ? (q.zeroPoints[r * zpBytes + (b >> 1)] >> ((b & 1) * 4)) & 15 : zeroPoint(q.bits);
      out[r * q.cols + c] = (code - zero) * q.scales[r * q.blocks + b];
    }
  }
  return out;
}

/** An 8-bit matrix for MatMulInteger: int8 codes [cols, rows] (transposed), symmetric per row (output feature). */
export interface ChannelQuantized {
  codes: Int8Array;
  scales: Float32Array;
}

/** Quantizes a row-major [rows, cols] matrix per row: code = round(w / scale), scale = max |w| of the row / 127. */
export function quantizeChannels(w: Float32Array, rows: number, cols: number): ChannelQuantized {
  if (w.length !== rows * cols) throw new Error(`quantizeChannels: ${w.length} values for a [${rows}, ${cols}] matrix`);
  const codes = new Int8Array(rows * cols);
  const scales = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let amax = 0;
    for (let c = 0; c < cols; c++) amax = Math.max(amax, Math.abs(w[r * cols + c]));
    const scale = amax / 127;
    const inv = scale > 0 ? 1 / scale : 0;
    scales[r] = scale;
    for (let c = 0; c < cols; c++) codes[c * rows + r] = Math.round(w[r * cols + c] * inv);
  }
  return { codes, scales };
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
