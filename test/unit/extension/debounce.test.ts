import * as assert from 'node:assert/strict';
import { AdaptiveDebounce, sleep, STORM_QUIET_MS } from '../../../src/debounce';

describe('AdaptiveDebounce', () => {
  function debounceAt(times: number[], base: number): number[] {
    let i = 0;
    const d = new AdaptiveDebounce(() => times[i]);
    return times.map((_, k) => {
      i = k;
      return d.delayFor(base);
    });
  }

  it('waits the base delay for a first keystroke and after a pause', () => {
    assert.deepEqual(debounceAt([0, 5000], 150), [150, 150]);
  });

  it('waits longer for a fast typist, so a burst of keys makes no request per keystroke', () => {
    // keys every 200 ms: 1.5 × 200 = 300 ms
    assert.deepEqual(debounceAt([0, 200, 400, 600], 150), [150, 300, 300, 300]);
  });

  it('never waits more than three times the base delay', () => {
    assert.equal(debounceAt([0, 900, 1800], 150).at(-1), 450);
  });

  it('keeps the base delay when the typist is faster than it', () => {
    assert.deepEqual(debounceAt([0, 50, 100], 150), [150, 150, 150]);
  });

  it('with a base of 0, sends a lone request at once but holds a storm until it pauses', () => {
    assert.deepEqual(debounceAt([0, 2, 4, 5000], 0), [0, STORM_QUIET_MS, STORM_QUIET_MS, 0]);
  });
});

describe('sleep', () => {
  it('resolves true after the delay', async () => {
    assert.equal(await sleep(5, new AbortController().signal), true);
  });

  it('settles false as soon as it is aborted', async () => {
    const controller = new AbortController();
    const pending = sleep(60_000, controller.signal);
    controller.abort();
    assert.equal(await pending, false);
  });
});
