// What the visualizer derives from a trace, given small hand-made traces.
import * as assert from 'node:assert/strict';
import { buildTraceView, diffAgainst, policyLabel } from '../../media/src/traceModel';
import type { Trace, UnmaskedSlot } from '../../src/protocol';
import { decodeWithPolicies } from '../../src/visualizer/compare';

function unmasked(slot: number, text: string, p: number): UnmaskedSlot {
  return {
    slot,
    token: 100 + slot,
    text,
    p,
    entropy: 0.1,
    alternatives: [
      [100 + slot, p],
      [7, 1 - p],
    ],
    alternativeTexts: [text, 'x'],
  };
}

/** A trace whose end token is 103 (slot 3's token below), `kept` the slots whose text the result holds. */
function trace(steps: Trace['steps'], result: string, slots: number, kept: number[] = []): Trace {
  return {
    model: 'test',
    policy: { name: 'threshold', tau: 0.9, eotp: true },
    slots,
    prefixTokens: 3,
    suffixTokens: 2,
    steps,
    result: { text: result, stoppedBy: 'complete', confidence: 0.5 },
    stats: { forwards: steps.length, tokens: 0, tokensPerForward: 0, msTotal: 1, msModel: 1 },
    prefixText: 'x = ',
    suffixText: '\n',
    slotTokens: [],
    endTokens: [103],
    keptSlots: kept,
    rawText: '',
    singleLine: true,
  };
}

describe('visualizer trace model', () => {
  // Canvas of 4 slots: "foo" "(1)" "\nbar" pad; single-line shaping cut the text at the newline.
  const t = trace(
    [
      {
        at: 0,
        ms: 1,
        msModel: 1,
        unmasked: [unmasked(0, 'foo', 0.95), unmasked(3, '<|pad|>', 0.99)],
        pending: [
          [1, 5, 0.4],
          [2, 102, 0.3],
        ],
      },
      { at: 0, ms: 1, msModel: 1, unmasked: [unmasked(1, '(1)', 0.7)], pending: [[2, 102, 0.6]] },
      { at: 0, ms: 1, msModel: 1, unmasked: [unmasked(2, '\nbar', 0.8)], pending: [] },
    ],
    'foo(1)',
    4,
    [0, 1],
  );
  const view = buildTraceView(t);

  it('maps each slot to the step that filled it, pads and cut text marked', () => {
    assert.deepEqual(
      view.slots.map((s) => [s.kind, s.step]),
      [
        ['token', 0],
        ['token', 1],
        ['cut', 2],
        ['pad', 0],
      ],
    );
    assert.ok(view.matchesResult);
  });

  it("keeps a slot's confidence while it was masked, noting when its top-1 was another token", () => {
    assert.deepEqual(view.slots[1].history, [
      { step: 0, p: 0.4, top1: 5, final: false },
      { step: 1, p: 0.7, top1: 101, final: true },
    ]);
    assert.deepEqual(
      view.slots[2].history.map((h) => [h.step, h.p, h.final]),
      [
        [0, 0.3, true],
        [1, 0.6, true],
        [2, 0.8, true],
      ],
    );
  });

  it('counts tokens and pads per step and the mean confidence of what is still masked', () => {
    assert.deepEqual(
      view.steps.map((s) => [s.real, s.pads, s.pendingMeanP]),
      [
        [1, 1, 0.35],
        [1, 0, 0.6],
        [1, 0, null],
      ],
    );
  });

  it('cuts a token in the middle when shaping ended the text inside it', () => {
    const v = buildTraceView(
      trace([{ at: 0, ms: 1, msModel: 1, unmasked: [unmasked(0, 'ab', 0.9), unmasked(1, 'c\nd', 0.9)], pending: [] }], 'abc', 2, [0, 1]),
    );
    assert.deepEqual(
      v.slots.map((s) => [s.kind, s.keep]),
      [
        ['token', 2],
        ['token', 1],
      ],
    );
  });

  it('marks the characters of a text that differ from the reference', () => {
    assert.deepEqual(diffAgainst('a + b', 'a - b'), [true, true, false, true, true]);
    assert.deepEqual(diffAgainst('', 'ab'), [false, false]);
  });

  it("carries the learned filter's score of a slot when the policy had one (learned), null otherwise", () => {
    const scored = trace(
      [{ at: 0, ms: 1, msModel: 1, unmasked: [{ ...unmasked(0, 'a', 0.6), score: 0.93 }, unmasked(1, 'b', 0.9)], pending: [] }],
      'ab',
      2,
      [0, 1],
    );
    assert.deepEqual(
      buildTraceView(scored).slots.map((s) => s.score),
      [0.93, null],
    );
  });

  it("tells pads by the trace's end tokens, not by their text (DiffuCoder's <|dlm_pad|>, a real token that looks special)", () => {
    const v = buildTraceView(
      trace(
        [{ at: 0, ms: 1, msModel: 1, pending: [], unmasked: [unmasked(0, '<|eot|>', 0.9), unmasked(1, 'x', 0.9), unmasked(3, '<|dlm_pad|>', 0.9)] }],
        '<|eot|>x',
        4,
        [0, 1],
      ),
    );
    assert.deepEqual(
      v.slots.map((s) => s.kind),
      ['token', 'token', 'masked', 'pad'],
    );
    assert.equal(v.matchesResult, true);
  });

  it('names a policy with its parameters', () => {
    assert.equal(policyLabel(t), 'threshold(tau=0.9, eotp=true)');
  });
});

describe('visualizer comparison requests', () => {
  it("decode the same canvas with each policy, sequential first, keeping the trace's options", async () => {
    const base = trace([], '', 8);
    base.policy = { name: 'threshold', tau: 0.9, eotp: false, blockSize: 4 };
    const seen: unknown[] = [];
    const out = await decodeWithPolicies(base, async (r) => (seen.push(r), { ...base, policy: { ...r.policy } }));
    assert.deepEqual(
      out.map((t) => t.policy.name),
      ['sequential', 'fixed', 'threshold', 'factor', 'entropy', 'learned'],
    );
    assert.deepEqual(seen[0], { prefix: 'x = ', suffix: '\n', slots: 8, singleLine: true, policy: { name: 'sequential' }, eotp: false, blockSize: 4 });
  });
});
