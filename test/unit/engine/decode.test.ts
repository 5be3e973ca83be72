import * as assert from 'node:assert/strict';
import { buildCanvas, decode, type Decoder } from '../../../src/engine';
import type { CompleteRequest, PolicySpec, Trace } from '../../../src/protocol';
import { charTokenizer, MASK, PAD, plan, ScriptedDenoiser, testModel, tok, type SlotScript } from './scripted';

const PREFIX = 'x = f(';
const SUFFIX = ')\n';

function setup(script: SlotScript[], request: Partial<CompleteRequest> & { policy?: PolicySpec } = {}) {
  const denoiser = new ScriptedDenoiser(PREFIX.length, script);
  const decoder: Decoder = { denoiser, tokenizer: charTokenizer, model: testModel };
  const req: CompleteRequest = {
    prefix: PREFIX,
    suffix: SUFFIX,
    slots: script.length,
    singleLine: true,
    policy: { name: 'threshold' },
    eotp: true,
    ...request,
  };
  return { denoiser, run: (opts = {}) => decode(decoder, req, opts) };
}

/** Every slot unmasked exactly once, pending = what is still masked, steps = forwards. */
function assertConsistent(trace: Trace, forwards: number) {
  assert.equal(trace.steps.length, forwards);
  assert.equal(trace.stats.forwards, forwards);
  const seen = trace.steps.flatMap((s) => s.unmasked.map((u) => u.slot)).sort((a, b) => a - b);
  assert.deepEqual(
    seen,
    Array.from({ length: trace.slots }, (_, i) => i),
  );
  const done = new Set<number>();
  for (const step of trace.steps) {
    step.unmasked.forEach((u) => done.add(u.slot));
    const stillMasked = Array.from({ length: trace.slots }, (_, i) => i).filter((i) => !done.has(i));
    assert.deepEqual(
      step.pending.map(([slot]) => slot),
      stillMasked,
    );
  }
}
const perStep = (t: Trace) => t.steps.map((s) => s.unmasked.map((u) => u.slot));

describe('decode: the infill loop', () => {
  it('sequential spends one forward per real token and EoTP fills the confident pads with the last one', async () => {
    // "a+b" then three pads that the model is surer of than of any real token
    const { denoiser, run } = setup(plan('a+b', 6, [0.6, 0.7, 0.8], 0.99), { policy: { name: 'sequential' } });
    const trace = await run();
    assert.equal(trace.result.text, 'a+b');
    assert.equal(trace.result.stoppedBy, 'eotp');
    assert.deepEqual(perStep(trace), [[2], [1], [0, 3, 4, 5]]);
    assert.equal(denoiser.forwards, 3);
    assert.equal(trace.stats.tokens, 3);
    assertConsistent(trace, 3);
  });

  it('without EoTP sequential commits the pads one per forward, trailing ones first', async () => {
    const { run } = setup(plan('a+b', 6, [0.6, 0.7, 0.8], 0.99), { policy: { name: 'sequential' }, eotp: false });
    const trace = await run();
    assert.equal(trace.result.text, 'a+b');
    assert.equal(trace.result.stoppedBy, 'complete');
    assertConsistent(trace, 6);
    assert.deepEqual(perStep(trace).slice(0, 3), [[2], [1], [0]]);
  });

  it('does not fall into the empty completion when pads are the most confident prediction (docs/architecture.md, "The decode loop")', async () => {
    // the model is 99% sure of pads and only 30% sure of the real tokens
    const { run } = setup(plan('n+1', 8, 0.3, 0.99), { policy: { name: 'threshold', tau: 0.9 } });
    const trace = await run();
    assert.equal(trace.result.text, 'n+1');
    assert.deepEqual(
      trace.steps[0].unmasked.map((u) => u.slot),
      [0],
    ); // a real token, not a pad
  });

  it('threshold(0.9) takes every sure real token in one forward and EoTP ends it there', async () => {
    const { run } = setup(plan('a, b', 8, 0.95, 0.97));
    const trace = await run();
    assert.equal(trace.result.text, 'a, b');
    assertConsistent(trace, 1);
    assert.equal(trace.stats.tokensPerForward, 4);
  });

  it('threshold(1.0) unmasks one slot per step', async () => {
    const { run } = setup(plan('a+b', 5, 0.99, 0.99), { policy: { name: 'threshold', tau: 1.0 }, eotp: false });
    const trace = await run();
    assertConsistent(trace, 5);
    assert.ok(trace.steps.every((s) => s.unmasked.length === 1));
  });

  it('EoTP waits while real tokens are pending beside unsure pads, then fills the pads in one step', async () => {
    const { run } = setup(plan('ab', 5, 0.95, 0.6), { policy: { name: 'fixed', k: 1 } });
    const trace = await run();
    assert.equal(trace.result.stoppedBy, 'eotp');
    // 'b' is still to come while the pads are unsure: no EoTP; once only pads are predicted, all at once
    assert.deepEqual(perStep(trace), [[0], [1], [2, 3, 4]]);
  });

  it('without EoTP the unsure pads cost a forward each', async () => {
    const { run } = setup(plan('ab', 5, 0.95, 0.6), { policy: { name: 'threshold', tau: 0.9 }, eotp: false });
    const trace = await run();
    assert.equal(trace.result.stoppedBy, 'complete');
    // step 1: both real tokens; then pads by the policy's own rule (top-1 each), trailing first
    assert.deepEqual(perStep(trace), [[0, 1], [2], [3], [4]]);
  });

  it('deletes a pad left between real tokens', async () => {
    // slot 2 ends up a pad although real tokens follow it
    const script = plan('ab\u0000c', 6, 0.95, 0.95);
    const { run } = setup(script, { policy: { name: 'fixed', k: 6 }, eotp: false });
    const trace = await run();
    assert.deepEqual(trace.slotTokens.slice(0, 4), [tok('a'), tok('b'), PAD, tok('c')]);
    assert.equal(trace.rawText, 'abc');
    assert.equal(trace.result.text, 'abc');
  });

  it('blocks open left to right: a block is finished before the next one is touched', async () => {
    const { run } = setup(plan('abcdef', 6, 0.99, 0.99), { policy: { name: 'fixed', k: 6 }, blockSize: 2 });
    const trace = await run();
    assert.deepEqual(perStep(trace), [
      [0, 1],
      [2, 3],
      [4, 5],
    ]);
    assert.equal(trace.result.text, 'abcdef');
  });

  it('the forward cap holds: the slots still masked then take their current top-1', async () => {
    const { denoiser, run } = setup(plan('abcde', 5, 0.5, 0.99), { policy: { name: 'sequential' }, maxForwards: 2 });
    const trace = await run();
    assert.equal(denoiser.forwards, 2);
    assert.equal(trace.result.stoppedBy, 'maxForwards');
    assert.equal(trace.result.text, 'abcde');
    assertConsistent(trace, 2);
  });

  it('single-line mode stops once everything up to a line break is settled; the rest takes its current top-1', async () => {
    // "ab" and the newline are sure, the junk after the line break is not: decoding needs only two forwards
    const script = plan('ab\nxyz', 6, [0.99, 0.99, 0.98, 0.3, 0.2, 0.1], 0.99);
    const { denoiser, run } = setup(script, { policy: { name: 'threshold', tau: 0.9 } });
    const trace = await run();
    assert.equal(trace.result.stoppedBy, 'lineEnd');
    assert.equal(denoiser.forwards, 1);
    assert.equal(trace.result.text, 'ab');
    assert.equal(trace.rawText, 'ab\nxyz');
    assertConsistent(trace, 1);

    // a masked slot before the line break keeps decoding going; multi-line mode never stops this way
    const unsure = plan('ab\nxyz', 6, [0.5, 0.99, 0.98, 0.3, 0.2, 0.1], 0.99);
    assert.equal((await setup(unsure, { policy: { name: 'threshold', tau: 0.9 } }).run()).steps[0].unmasked.length, 2);
    const multi = await setup(script, { policy: { name: 'threshold', tau: 0.9 }, singleLine: false }).run();
    assert.notEqual(multi.result.stoppedBy, 'lineEnd');
    assert.equal(multi.result.text, 'ab\nxyz');
  });

  it('multi-line decoding stops once the line cap is settled: what follows would be cut', async () => {
    // nine lines "a" settled in one forward, then unsure text that shaping would cut anyway
    const answer = 'a\n'.repeat(9) + 'zz';
    const realP = [...answer].map((_, i) => (i < 16 ? 0.99 : 0.3)); // up to the 8th line break
    const { denoiser, run } = setup(plan(answer, answer.length + 2, realP, 0.99), { policy: { name: 'threshold', tau: 0.9 }, singleLine: false });
    const trace = await run();
    assert.equal(trace.result.stoppedBy, 'lineCap');
    assert.equal(denoiser.forwards, 1);
    assert.equal(trace.result.text, Array(8).fill('a').join('\n'));
  });

  it('a time budget makes the last forward that fits it fill every slot still masked, as maxForwards does', async () => {
    let clock = 0;
    const { denoiser, run } = setup(plan('abcdef', 6, [0.5, 0.6, 0.1, 0.4, 0.2, 0.3], 0.99), { policy: { name: 'sequential' }, timeBudgetMs: 25 });
    denoiser.onForward = () => {
      clock += 10;
    };
    const trace = await run({ now: () => clock });
    // the forward at 0 ms commits slot 1 and ends at 10 ms: one more (10 ms, as the last took) ends at 20 ms, inside
    // the budget. The one at 10 ms ends at 20 ms, and a third would end at 30 ms, past 25: the second forward's
    // predictions fill the five slots left, and the third is never started
    assert.equal(trace.result.stoppedBy, 'timeBudget');
    assert.equal(denoiser.forwards, 2);
    assert.deepEqual(perStep(trace), [[1], [0, 2, 3, 4, 5]]);
    assert.equal(trace.result.text, 'abcdef');
    assertConsistent(trace, 2);
    assert.ok(trace.stats.msTotal <= 25, `${trace.stats.msTotal} ms`);
  });

  it('without the cache, the next forward is taken to cost what the last full forward did, whatever the cost fits say', async () => {
    let clock = 0;
    const denoiser = new ScriptedDenoiser(PREFIX.length, plan('abcdef', 6, [0.5, 0.6, 0.1, 0.4, 0.2, 0.3], 0.99));
    denoiser.onForward = () => {
      clock += 10;
    };
    // fits that call every forward 1 ms: taking the fit, a second forward would start at 10 ms and end at 20, past 15
    const fit = { a: 1, b: 0, c: 0 };
    const decoder: Decoder = { denoiser, tokenizer: charTokenizer, model: testModel, cost: { full: fit, step: fit, overheadMs: 0, threads: 1 } };
    const trace = await decode(
      decoder,
      { prefix: PREFIX, suffix: SUFFIX, slots: 6, singleLine: true, policy: { name: 'sequential' }, eotp: true, timeBudgetMs: 15 },
      { now: () => clock },
    );
    assert.equal(denoiser.forwards, 1);
    assert.equal(trace.result.stoppedBy, 'timeBudget');
    assert.ok(trace.stats.msTotal <= 15, `${trace.stats.msTotal} ms`);
  });

  it('a time budget too short for any step still shows the first forward, filled', async () => {
    let clock = 0;
    const { denoiser, run } = setup(plan('abc', 3, [0.5, 0.6, 0.4], 0.99), { policy: { name: 'sequential' }, timeBudgetMs: 5 });
    denoiser.onForward = () => {
      clock += 10;
    };
    const trace = await run({ now: () => clock });
    assert.equal(denoiser.forwards, 1);
    assert.equal(trace.result.stoppedBy, 'timeBudget');
    assert.equal(trace.result.text, 'abc');
  });

  it("a completion's confidence is the geometric mean of the probabilities its kept tokens were unmasked with", async () => {
    const { run } = setup(plan('ab\ncd', 5, [0.9, 0.4, 0.99, 0.99, 0.99], 0.99), { policy: { name: 'sequential' }, eotp: false });
    const trace = await run();
    assert.equal(trace.result.text, 'ab');
    assert.ok(Math.abs(trace.result.confidence - Math.sqrt(0.9 * 0.4)) < 1e-3, `confidence ${trace.result.confidence}`);
    assert.equal((await setup(plan('', 3, [], 0.99), { policy: { name: 'sequential' } }).run()).result.confidence, 0);
  });

  it('stops early when every prediction is stable and confident', async () => {
    // slot 0 is unsure at first; everything else is stable at 0.8 from the first forward on
    const script = plan('abcd', 4, 0.8, 0.99);
    script[0] = { token: tok('a'), p: (f) => (f === 0 ? 0.85 : 0.9) };
    const { run } = setup(script, { policy: { name: 'sequential' } });
    const trace = await run({ stableConfidence: 0.75 });
    assert.equal(trace.result.stoppedBy, 'stable');
    assert.deepEqual(perStep(trace), [[0], [1, 2, 3]]);
  });

  it('cancellation between steps stops within one step', async () => {
    const { denoiser, run } = setup(plan('abcdef', 6, 0.5, 0.99), { policy: { name: 'sequential' } });
    const controller = new AbortController();
    await assert.rejects(
      run({ signal: controller.signal, onStep: (_s: unknown, i: number) => i === 1 && controller.abort() }),
      (e: Error) => e.name === 'Cancelled',
    );
    assert.equal(denoiser.forwards, 2);
  });

  it('cancellation during a forward discards its result and starts no other', async () => {
    const { denoiser, run } = setup(plan('abcdef', 6, 0.5, 0.99), { policy: { name: 'sequential' } });
    const controller = new AbortController();
    const steps: number[] = [];
    denoiser.onForward = async (i) => {
      if (i === 2) controller.abort();
      await new Promise((r) => setTimeout(r, 1));
    };
    await assert.rejects(run({ signal: controller.signal, onStep: (_s: unknown, i: number) => steps.push(i) }), { name: 'Cancelled' });
    assert.equal(denoiser.forwards, 3);
    assert.deepEqual(steps, [0, 1]);
  });

  it('an already aborted request runs no forward', async () => {
    const { denoiser, run } = setup(plan('ab', 2, 0.5, 0.99));
    await assert.rejects(run({ signal: AbortSignal.abort() }), { name: 'Cancelled' });
    assert.equal(denoiser.forwards, 0);
  });

  it('honours logitsShift: slot i is read at canvas position i−1', async () => {
    const script = plan('ab', 3, 0.99, 0.99);
    const denoiser = new ScriptedDenoiser(PREFIX.length, script, 1);
    const trace = await decode(
      { denoiser, tokenizer: charTokenizer, model: { ...testModel, logitsShift: 1 } },
      { prefix: PREFIX, suffix: SUFFIX, slots: 3, singleLine: true, policy: { name: 'sequential' }, eotp: false },
    );
    assert.deepEqual(denoiser.positionsSeen[0], [PREFIX.length - 1, PREFIX.length, PREFIX.length + 1]);
    assert.equal(trace.result.text, 'ab');
  });

  it('a shifted model with an empty prefix gets a bos before slot 0', () => {
    const c = buildCanvas([], [50], 2, { ...testModel, logitsShift: 1 });
    assert.deepEqual(c.ids, [2, MASK, MASK, 50]);
    assert.equal(c.slotStart, 1);
  });

  it('the canvas keeps the text nearest the cursor when it must be cut', () => {
    const prefix = Array.from({ length: 100 }, (_, i) => 1000 + i);
    const suffix = Array.from({ length: 100 }, (_, i) => 2000 + i);
    const c = buildCanvas(prefix, suffix, 4, testModel); // 64 = 4 slots + 60 of context
    assert.equal(c.ids.length, 64);
    assert.equal(c.prefixIds.at(-1), 1099); // the token just before the cursor
    assert.equal(c.suffixIds[0], 2000); // the token just after it
    assert.equal(c.prefixIds.length, 39);
    assert.equal(c.suffixIds.length, 21);
    // a short suffix leaves its room to the prefix
    assert.equal(buildCanvas(prefix, [7, 8], 4, testModel).prefixIds.length, 58);
  });

  it('the trace records the canvas, the policy in force, texts and alternatives', async () => {
    const { run } = setup(plan('a', 2, 0.95, 0.95));
    const steps: number[] = [];
    const trace = await run({ onStep: (_s: unknown, i: number) => steps.push(i) });
    assert.deepEqual(steps, [0]);
    assert.equal(trace.prefixText, PREFIX);
    assert.equal(trace.suffixText, SUFFIX);
    assert.equal(trace.prefixTokens, PREFIX.length);
    assert.deepEqual(trace.policy, { name: 'threshold', tau: 0.9, eotp: true });
    const u = trace.steps[0].unmasked[0];
    assert.deepEqual([u.text, u.alternativeTexts], ['a', ['a', '<pad>']]);
    assert.deepEqual(u.alternatives, [
      [tok('a'), 0.95],
      [PAD, 0.05],
    ]);
  });

  it('shapes the result: single line, no echo of the suffix, empty is a valid answer', async () => {
    // the model writes "b)\nfoo" before ")\n": the newline cuts, then ")" echoes the suffix
    const { run } = setup(plan('b)\nfoo', 8, 0.95, 0.95));
    assert.equal((await run()).result.text, 'b');
    const empty = setup(plan('', 4, 0.9, 0.99));
    const trace = await empty.run();
    assert.equal(trace.result.text, '');
    assert.equal(trace.stats.tokens, 0);
    assert.equal(trace.result.stoppedBy, 'eotp');
  });
});
