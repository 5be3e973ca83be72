// The wait between a keystroke and a completion request, adapted to typing speed: a fast typist gets a longer
// wait (no request per keystroke), a pause gets the base wait. No `vscode` import.

/** Intervals longer than this are pauses, not typing, and do not count towards the typing speed. */
const pauseMs = 1000;

export class AdaptiveDebounce {
  private lastKeystroke: number | undefined;
  private meanInterval: number | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  /** Records a keystroke (a completion request from the editor) and returns how long to wait before asking the model. */
  delayFor(baseMs: number): number {
    const t = this.now();
    if (this.lastKeystroke !== undefined) {
      const interval = t - this.lastKeystroke;
      if (interval < pauseMs) {
        this.meanInterval = this.meanInterval === undefined ? interval : 0.7 * this.meanInterval + 0.3 * interval;
      }
    }
    this.lastKeystroke = t;
    if (this.meanInterval === undefined || baseMs === 0) return baseMs;
    // Wait a little longer than the typist's usual gap between keys, within [base, 3 × base].
    return Math.round(Math.min(3 * baseMs, Math.max(baseMs, 1.5 * this.meanInterval)));
  }
}

/** Resolves true after `ms`, or false as soon as `signal` aborts: it always settles. */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(true); }, ms);
    const onAbort = () => { clearTimeout(timer); resolve(false); };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
