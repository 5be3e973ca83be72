// Reuse across keystrokes (docs/architecture.md, "Reuse across keystrokes"): a new request's canvas shares most of
// its rows with the last one (the user typed or deleted a few characters), so its first forward computes only the
// rows that changed and the slots, and takes the other rows' keys and values from the last canvas. Pure functions:
// how two canvases line up, and the keys and values of the rows reused, moved to their new positions.
import { ort } from './ort';

/** How a new canvas lines up with the last one: a run at its start and a run at its end that are old rows. */
export interface Alignment {
  /** New rows [0, head) are old rows [slide, slide + head): the canvas's start moved `slide` tokens on. */
  head: number;
  slide: number;
  /** New rows [n − tail, n) are old rows [tailFrom, tailFrom + tail) (n: the new canvas's length). */
  tail: number;
  tailFrom: number;
}

/** The most a canvas's start may move between two requests and still be found (a token or two a keystroke). */
export const MAX_SLIDE = 64;

/**
 * The longest run of old rows at the new canvas's start (trying every forward slide up to MAX_SLIDE: a canvas cut to
 * its room starts later as the prefix grows) and the longest at its end, never overlapping in either canvas. The end
 * is matched two ways, the longer kept: end to end, and, given where each canvas's slots end (`after`), the new
 * canvas's rows from there to its end against the old one's from its slots' end (the suffix cut shorter than before).
 */
export function alignCanvases(prev: readonly number[], next: readonly number[], after?: { prev: number; next: number }): Alignment {
  let head = 0;
  let slide = 0;
  for (let s = 0; s <= Math.min(MAX_SLIDE, prev.length - 1); s++) {
    let j = 0;
    while (j < next.length && j + s < prev.length && next[j] === prev[j + s]) j++;
    if (j > head) {
      head = j;
      slide = s;
    }
  }
  let tail = 0;
  const n = next.length;
  const m = prev.length;
  while (tail < n - head && tail < m - slide - head && next[n - 1 - tail] === prev[m - 1 - tail]) tail++;
  let tailFrom = m - tail;
  if (after && after.next >= head && after.prev >= slide + head && n - after.next > tail && after.prev + (n - after.next) <= m) {
    let j = 0;
    while (after.next + j < n && next[after.next + j] === prev[after.prev + j]) j++;
    if (after.next + j === n) {
      tail = n - after.next;
      tailFrom = after.prev;
    }
  }
  return { head, slide, tail, tailFrom };
}

/** Rows of a kv tensor, each moved by `shift` positions. */
export interface RowSource {
  kv: ort.Tensor;
  from: number;
  count: number;
  shift: number;
}

/**
 * Concatenates rows of kv tensors ([layers, 2, 1, kvHeads, rows, headDim]) in the order given, rotating each key by
 * its source's `shift` positions. Keys are stored after the rotary embedding (rotate-half layout, angle position ×
 * invFreq[i] for the pairs (i, i + D/2)), and rotations add: moving a key by Δ positions is one more rotation by
 * Δ × invFreq[i]. Values carry no position.
 */
export function joinRows(parts: readonly RowSource[], invFreq: Float64Array): ort.Tensor {
  const first = parts.find((p) => p.count > 0)?.kv ?? parts[0].kv;
  const [L, two, , KV, , D] = first.dims;
  const rows = parts.reduce((sum, p) => sum + p.count, 0);
  const out = new Float32Array(L * two * KV * rows * D);
  const half = D / 2;
  for (const part of parts) {
    if (part.shift !== 0 && invFreq.length !== half) throw new Error(`joinRows: ${invFreq.length} frequencies for a head of ${D}`);
  }
  const cos = parts.map((p) => (p.shift ? Float64Array.from(invFreq, (f) => Math.cos(p.shift * f)) : undefined));
  const sin = parts.map((p) => (p.shift ? Float64Array.from(invFreq, (f) => Math.sin(p.shift * f)) : undefined));
  for (let l = 0; l < L; l++) {
    for (let kind = 0; kind < two; kind++) {
      for (let h = 0; h < KV; h++) {
        const block = (l * two + kind) * KV + h;
        let at = block * rows * D;
        parts.forEach((part, i) => {
          const T = part.kv.dims[4];
          const src = part.kv.data as Float32Array;
          const base = (block * T + part.from) * D;
          out.set(src.subarray(base, base + part.count * D), at);
          const c = cos[i];
          const s = sin[i];
          if (kind === 0 && c && s) {
            for (let r = 0; r < part.count; r++) {
              const o = at + r * D;
              for (let k = 0; k < half; k++) {
                const x1 = out[o + k];
                const x2 = out[o + k + half];
                out[o + k] = x1 * c[k] - x2 * s[k];
                out[o + k + half] = x2 * c[k] + x1 * s[k];
              }
            }
          }
          at += part.count * D;
        });
      }
    }
  }
  return new ort.Tensor('float32', out, [L, two, 1, KV, rows, D]);
}

/** The rotary frequencies of a model (its rope theta and head size): invFreq[i] = theta^(−2i/D). */
export const rotaryFrequencies = (theta: number, headDim: number): Float64Array =>
  Float64Array.from({ length: headDim / 2 }, (_, i) => 1 / theta ** ((2 * i) / headDim));

/**
 * How far each row's keys and values moved between two kv tensors of the same rows ([layers, 2, 1, kvHeads, rows,
 * headDim]): ‖new − old‖ / ‖old‖ over every layer, head and both kinds, a number per row. Reuse's drift test
 * (cachedDenoiser.ts REUSE.maxDrift) reads it for the recomputed rows next to the reused ones.
 */
export function rowDrift(next: ort.Tensor, old: ort.Tensor): number[] {
  const [L, two, , KV, rows, D] = old.dims;
  if (next.dims.join() !== old.dims.join()) throw new Error(`rowDrift: [${next.dims.join(', ')}] against [${old.dims.join(', ')}]`);
  const a = next.data as Float32Array;
  const b = old.data as Float32Array;
  const diff = new Float64Array(rows);
  const norm = new Float64Array(rows);
  for (let block = 0; block < L * two * KV; block++) {
    for (let r = 0; r < rows; r++) {
      const o = (block * rows + r) * D;
      for (let k = 0; k < D; k++) {
        const d = a[o + k] - b[o + k];
        diff[r] += d * d;
        norm[r] += b[o + k] * b[o + k];
      }
    }
  }
  return Array.from(diff, (d, r) => Math.sqrt(d / Math.max(norm[r], 1e-30)));
}
