// The per-step signals of every still-masked slot that the learned unmasking filter reads (Learn2PD):
// defined once here, so that the trajectories the filter is trained on (research/trajectories.ts) and the `learned`
// policy in the decode loop compute them by the same code. training/filter.py reads FEATURE_NAMES from the
// trajectory file's header and refuses a mismatch; the filter graph's manifest entry records them too.
import type { Candidate } from './types';

export const FEATURE_NAMES = [
  'p1', // top-1 probability
  'margin', // p1 − p2
  'entropy', // of the whole distribution, nats
  'isEnd', // top-1 is pad/eos
  'blockPos', // position in the open slot block, 0…1
  'fromFirstMasked', // distance to the leftmost still-masked slot, in slot budgets
  'stepFrac', // forwards so far / slot budget
  'maskedFrac', // still-masked slots / slot budget
  'changed', // top-1 differs from the last forward's
  'stable', // forwards in a row with this top-1, / 8, at most 1
  'leftDone', // left neighbour committed (the prefix counts as committed)
  'rightDone', // right neighbour committed (the suffix counts as committed)
  'leftP', // the left neighbour's p1 if it is masked, 1 if committed
  'rightP', // the right neighbour's p1 if it is masked, 1 if committed
  'singleLine', // single-line request
] as const;
export const FEATURE_COUNT = FEATURE_NAMES.length;

const MASKED = -1;

/** Keeps what the signals need from earlier steps (the last top-1 of each slot and how long it has held). */
export class SignalTracker {
  private readonly last = new Map<number, number>();
  private readonly runs = new Map<number, number>();
  private step = 0;

  constructor(
    private readonly slots: number,
    private readonly blockSize: number,
    private readonly singleLine: boolean,
    private readonly isEnd: (token: number) => boolean,
  ) {}

  /**
   * The feature rows of this step's candidates (row j for candidates[j]), flattened, FEATURE_COUNT per row.
   * Call once per forward, before the chosen slots are committed.
   */
  next(candidates: readonly Candidate[], slotTokens: readonly number[]): Float32Array {
    const n = candidates.length;
    const out = new Float32Array(n * FEATURE_COUNT);
    const pOf = new Map(candidates.map((c) => [c.slot, c.p]));
    const firstMasked = n ? Math.min(...candidates.map((c) => c.slot)) : 0;
    const blockStart = Math.floor(firstMasked / this.blockSize) * this.blockSize;
    const budget = Math.max(1, this.slots);
    const neighbour = (s: number) => (s < 0 || s >= slotTokens.length || slotTokens[s] !== MASKED ? 1 : (pOf.get(s) ?? 0));
    candidates.forEach((c, j) => {
      const prev = this.last.get(c.slot);
      const changed = prev !== undefined && prev !== c.token;
      const run = prev === c.token ? (this.runs.get(c.slot) ?? 1) + 1 : 1;
      this.runs.set(c.slot, run);
      this.last.set(c.slot, c.token);
      const row = out.subarray(j * FEATURE_COUNT, (j + 1) * FEATURE_COUNT);
      row[0] = c.p;
      row[1] = c.p - (c.p2 ?? 0);
      row[2] = c.entropy;
      row[3] = this.isEnd(c.token) ? 1 : 0;
      row[4] = (c.slot - blockStart) / Math.max(1, this.blockSize - 1);
      row[5] = (c.slot - firstMasked) / budget;
      row[6] = this.step / budget;
      row[7] = n / budget;
      row[8] = changed ? 1 : 0;
      row[9] = Math.min(1, run / 8);
      row[10] = c.slot === 0 || slotTokens[c.slot - 1] !== MASKED ? 1 : 0;
      row[11] = c.slot === slotTokens.length - 1 || slotTokens[c.slot + 1] !== MASKED ? 1 : 0;
      row[12] = neighbour(c.slot - 1);
      row[13] = neighbour(c.slot + 1);
      row[14] = this.singleLine ? 1 : 0;
    });
    this.step++;
    return out;
  }
}
