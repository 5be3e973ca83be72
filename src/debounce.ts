// The wait between a keystroke and a completion request, adapted to typing speed: a fast typist gets a longer
// wait (no request per keystroke), a pause gets the base wait. No `vscode` import.

/** Intervals longer than this are pauses, not typing, and do not count towards the typing speed. */
const pauseMs = 1000;

/**
 * A request that follows another while typing waits at least this long, even with a base of 0: in a storm of
 * requests (a held-down key) none is sent until the keys pause, and then only the last one. Without it, each request
 * spaced wider than a forward started its own decode. This is the only wait before a completion: the model client
 * sends what it is given at once.
 */
export const STORM_QUIET_MS = 25;

export class AdaptiveDebounce {
  private lastKeystroke: number | undefined;
  private meanInterval: number | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  /** Records a keystroke (a completion request from the editor) and returns how long to wait before asking the model. */
  delayFor(baseMs: number): number {
    const t = this.now();
    const interval = this.lastKeystroke === undefined ? undefined : t - this.lastKeystroke;
    const typing = interval !== undefined && interval < pauseMs;
    if (typing) this.meanInterval = this.meanInterval === undefined ? interval : 0.7 * this.meanInterval + 0.3 * interval;
    this.lastKeystroke = t;
    const floor = typing ? STORM_QUIET_MS : 0;
    if (this.meanInterval === undefined || baseMs === 0) return Math.max(floor, baseMs);
    // Wait a little longer than the typist's usual gap between keys, within [base, 3 × base].
    return Math.max(floor, Math.round(Math.min(3 * baseMs, Math.max(baseMs, 1.5 * this.meanInterval))));
  }
}

/** Resolves true after `ms`, or false as soon as `signal` aborts: it always settles. */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
