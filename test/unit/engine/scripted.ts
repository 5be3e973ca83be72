// Test doubles for the engine: a character tokenizer and a denoiser that follows a script.
import type { Denoiser, ModelSpec, Prediction, TokenizerLike } from '../../../src/engine';

export const PAD = 0;
export const EOS = 1;
export const MASK = 3;
const OFFSET = 16;
const NAMES = ['<pad>', '<eos>', '<bos>', '<mask>'];

/** One token per character: id = code point + 16; 0–3 are pad, eos, bos, mask. */
export const charTokenizer: TokenizerLike = {
  encode: (text) => [...text].map((ch) => ch.codePointAt(0)! + OFFSET),
  decode: (ids) => ids.map((id) => (id < OFFSET ? (NAMES[id] ?? '') : String.fromCodePoint(id - OFFSET))).join(''),
};
export const tok = (ch: string) => ch.codePointAt(0)! + OFFSET;

export const testModel: ModelSpec = { name: 'scripted', maxSequence: 64, logitsShift: 0, tokens: { pad: PAD, eos: EOS, mask: MASK, bos: 2 } };

/** What a slot predicts: its token and how sure, possibly changing with the forward index (0-based). */
export interface SlotScript {
  token: number;
  p: number | ((forward: number) => number);
  entropy?: number;
}

/**
 * Slots that will hold `answer` (one char per slot) then pads up to `slots`.
 * `realP` and `padP` give the top-1 probability of real and pad slots (a number or one per slot).
 */
export function plan(answer: string, slots: number, realP: number | number[], padP: number): SlotScript[] {
  const chars = [...answer];
  return Array.from({ length: slots }, (_, i) =>
    i < chars.length ? { token: chars[i] === '\u0000' ? PAD : tok(chars[i]), p: Array.isArray(realP) ? realP[i] : realP } : { token: PAD, p: padP },
  );
}

export class ScriptedDenoiser implements Denoiser {
  forwards = 0;
  readonly positionsSeen: number[][] = [];
  readonly canvasesSeen: number[][] = [];
  /** Called at the start of each forward (0-based index); may be async to simulate a slow model. */
  onForward?: (index: number) => void | Promise<void>;

  constructor(
    private readonly slotStart: number,
    private readonly script: SlotScript[],
    private readonly shift = 0,
  ) {}

  async forward(canvas: readonly number[], positions: readonly number[]): Promise<Prediction[]> {
    const index = this.forwards++;
    this.positionsSeen.push([...positions]);
    this.canvasesSeen.push([...canvas]);
    await this.onForward?.(index);
    return positions.map((pos) => {
      const s = this.script[pos + this.shift - this.slotStart];
      if (!s) throw new Error(`scripted denoiser asked for position ${pos}, outside the slots`);
      const p = typeof s.p === 'function' ? s.p(index) : s.p;
      const alt = s.token === PAD ? tok('?') : PAD;
      const entropy = s.entropy ?? -(p * Math.log(p) + (p < 1 ? (1 - p) * Math.log(1 - p) : 0));
      return { ids: [s.token, alt], probs: [p, 1 - p], entropy };
    });
  }
}
