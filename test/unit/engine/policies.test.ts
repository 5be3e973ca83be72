import * as assert from 'node:assert/strict';
import { entropyBounded, factor, fixed, makePolicy, resolvePolicy, sequential, threshold, type Candidate } from '../../../src/engine';

/** Candidates from [p, entropy] pairs; slot = index. */
const slots = (...pe: [number, number?][]): Candidate[] => pe.map(([p, entropy], slot) => ({ slot, token: 100 + slot, p, entropy: entropy ?? 1 - p }));
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

describe('policies: which slots a step unmasks', () => {
  it('sequential unmasks only the single most confident slot', () => {
    assert.deepEqual(sequential(slots([0.3], [0.8], [0.5])), [1]);
  });

  it('fixed(2) unmasks the two most confident slots, fixed(9) all when fewer remain', () => {
    assert.deepEqual(sorted(fixed(2)(slots([0.3], [0.8], [0.5], [0.1]))), [1, 2]);
    assert.deepEqual(sorted(fixed(9)(slots([0.3], [0.8]))), [0, 1]);
  });

  it('threshold(0.9) unmasks every slot at or above 0.9, and the top-1 when none is', () => {
    assert.deepEqual(sorted(threshold(0.9)(slots([0.95], [0.3], [0.9], [0.89]))), [0, 2]);
    assert.deepEqual(threshold(0.9)(slots([0.4], [0.6], [0.5])), [1]);
  });

  it('threshold(1.0) degenerates to one slot per step even when the model is very sure', () => {
    assert.deepEqual(threshold(1.0)(slots([0.999], [0.998], [0.997])), [0]);
  });

  it('factor(1) takes the largest n with (n+1)(1 − p_n) < 1', () => {
    // n=1: 2·0.01; n=2: 3·0.03; n=3: 4·0.10 = 0.4; n=4: 5·0.40 = 2.0 ✗
    assert.deepEqual(sorted(factor(1)(slots([0.6], [0.99], [0.9], [0.97]))), [1, 2, 3]);
    // nobody passes (2·0.5 = 1 is not < 1): still the top-1
    assert.deepEqual(factor(1)(slots([0.5], [0.4])), [0]);
  });

  it('entropy(0.5) takes the lowest-entropy slots while ΣH − max H ≤ 0.5', () => {
    // ascending H: 0.1, 0.2, 0.3, 2.0 → k=3 gives 0.6 − 0.3 = 0.3; k=4 gives 2.6 − 2.0 = 0.6 ✗
    assert.deepEqual(sorted(entropyBounded(0.5)(slots([0.9, 0.3], [0.9, 2.0], [0.9, 0.1], [0.9, 0.2]))), [0, 2, 3]);
    // one very uncertain slot alone is still unmasked
    assert.deepEqual(entropyBounded(0)(slots([0.1, 5], [0.1, 6])), [0]);
  });

  it('every policy unmasks at least one slot, however unsure the model', () => {
    const unsure = slots([0.01, 5], [0.02, 5], [0.015, 5]);
    for (const spec of ['sequential', 'fixed', 'threshold', 'factor', 'entropy', 'learned'] as const) {
      assert.equal(makePolicy({ name: spec }).call(null, unsure).length >= 1, true, spec);
    }
  });

  it('resolves defaults and refuses parameters out of range, naming them', () => {
    assert.deepEqual(resolvePolicy({ name: 'threshold' }), { name: 'threshold', tau: 0.9 });
    assert.deepEqual(resolvePolicy({ name: 'fixed', tau: 0.3 } as never), { name: 'fixed', k: 2 });
    assert.throws(() => resolvePolicy({ name: 'threshold', tau: 1.5 }), /tau = 1.5/);
    assert.throws(() => resolvePolicy({ name: 'fixed', k: 0 }), /k = 0/);
    assert.throws(() => resolvePolicy({ name: 'nope' as 'fixed' }), /unknown policy "nope"/);
  });
});
