// The plan (src/engine/plan.ts): a request's canvas sized to its budget from the model's cost before the first forward,
// and the cost model's fit (src/model/costModel.ts). Costs here are made-up fits, so each answer can be worked by hand.
import * as assert from 'node:assert/strict';
import { decode } from '../../../src/engine';
import { autoBudgetMs, AUTO_BUDGET, decodeMs, fitMs, observeForwards, PLAN_FLOORS, planRequest, SLOWDOWN, type ForwardCost } from '../../../src/engine/plan';
import { fitCost } from '../../../src/model/costModel';
import { charTokenizer, plan as script, ScriptedDenoiser, testModel } from './scripted';

/** 1 ms per full-forward row, 10 ms per step: a line of 24 slots at C context tokens costs C + 24 + 23·10 + 5. */
const linear: ForwardCost = { full: { a: 0, b: 1, c: 0 }, step: { a: 10, b: 0, c: 0 }, overheadMs: 5, threads: 1 };
const input = { prefixTokens: 1500, suffixTokens: 400, slots: 24, cached: true, maxSequence: 2048 };

describe('plan: a request sized to its budget before the first forward', () => {
  it('keeps the whole context when the decode fits', () => {
    const p = planRequest(linear, { ...input, budgetMs: 5000 });
    assert.deepEqual([p.contextTokens, p.slots, p.shrunk], [1900, 24, false]);
    assert.equal(p.expectedMs, 1900 + 24 + 230 + 5);
  });

  it('gives up context first, to the largest that fits', () => {
    const p = planRequest(linear, { ...input, budgetMs: 1000 });
    // C + 24 + 230 + 5 ≤ 1000 → C = 741
    assert.deepEqual([p.contextTokens, p.slots, p.shrunk, p.expectedMs], [741, 24, true, 1000]);
  });

  it('then slots, down to their floor, keeping the context floor', () => {
    // at 256 context: 256 + S + 10(S−1) + 5 ≤ 430 → S ≤ 16.27
    const p = planRequest(linear, { ...input, budgetMs: 430 });
    assert.deepEqual([p.contextTokens, p.slots], [PLAN_FLOORS.contextTokens, 16]);
    assert.ok(p.expectedMs <= 430);
  });

  it('below the floors, shrinks the context until the first forward fits the budget', () => {
    const p = planRequest(linear, { ...input, budgetMs: 100 });
    assert.equal(p.slots, PLAN_FLOORS.slots);
    assert.ok(p.firstForwardMs <= 100, `first forward ${p.firstForwardMs} ms`);
    assert.equal(p.contextTokens, 100 - 16);
  });

  it('never plans more context than there is, nor more than the model holds', () => {
    assert.equal(planRequest(linear, { ...input, prefixTokens: 30, suffixTokens: 10, budgetMs: 5000 }).contextTokens, 40);
    assert.equal(planRequest(linear, { ...input, maxSequence: 512, budgetMs: 1e6 }).contextTokens, 512 - 24);
  });

  it('uncached decodes cost a full forward per step', () => {
    assert.equal(decodeMs(linear, 100, 4, false).total, 5 + 4 * 104);
    assert.equal(decodeMs(linear, 100, 4, true).total, 5 + 104 + 3 * 10);
  });

  it('the auto budget is the cost of a line at twice the context floor, with room, within the floor and cap (doubled for lines)', () => {
    assert.equal(autoBudgetMs(undefined, 64, true, false), AUTO_BUDGET.capMs * AUTO_BUDGET.multiLineFactor);
    assert.equal(autoBudgetMs(undefined, 24, true), AUTO_BUDGET.capMs);
    assert.equal(autoBudgetMs({ ...linear, step: { a: 0, b: 0, c: 0 }, full: { a: 0, b: 0, c: 0 } }, 24, true), AUTO_BUDGET.floorMs);
    const ms = Math.round((5 + 512 + 24 + 230) * AUTO_BUDGET.margin);
    assert.equal(autoBudgetMs(linear, 24, true), Math.min(AUTO_BUDGET.capMs, Math.max(AUTO_BUDGET.floorMs, ms)));
  });

  it('learns a busy machine from the forwards: the next plan is smaller, within bounds', () => {
    const cost: ForwardCost = { ...linear };
    const before = planRequest(cost, { ...input, budgetMs: 1500 });
    observeForwards(cost, 1000, 3000); // three times slower than measured
    assert.equal(cost.slowdown, 0.5 * 1 + 0.5 * 3);
    const after = planRequest(cost, { ...input, budgetMs: 1500 });
    assert.ok(after.contextTokens < before.contextTokens, `${after.contextTokens} < ${before.contextTokens}`);
    assert.ok(after.expectedMs <= 1500);
    for (let i = 0; i < 50; i++) observeForwards(cost, 1, 1e6);
    assert.equal(cost.slowdown, SLOWDOWN.max);
    for (let i = 0; i < 50; i++) observeForwards(cost, 1e6, 1);
    assert.equal(cost.slowdown, SLOWDOWN.min);
  });

  it('fitCost recovers a + b·rows + c·rows·(rows+past) from exact points', () => {
    const truth = { a: 20, b: 2.5, c: 0.001 };
    const points = [32, 128, 384].flatMap((rows) => [0, 512].map((past) => ({ rows, past, ms: fitMs(truth, rows, past) })));
    const got = fitCost(points);
    for (const k of ['a', 'b', 'c'] as const) assert.ok(Math.abs(got[k] - truth[k]) < 1e-6 * Math.max(1, truth[k]), `${k}: ${got[k]}`);
  });

  it('decode plans the canvas to the budget and says so in the trace; plan: false keeps the whole context', async () => {
    const prefix = 'x'.repeat(400);
    const request = { prefix, suffix: '', slots: 4, singleLine: false, policy: { name: 'sequential' as const }, eotp: false, timeBudgetMs: 339 };
    // 400 tokens of context cost 5 + 404 + 30 = 439 ms > 339: the plan keeps C where 5 + (C + 4) + 3·10 ≤ 339, C = 300
    const model = { ...testModel, maxSequence: 1024 };
    // the slots start after the context the plan keeps: 300 tokens planned, 400 without a plan
    const run = (plan: boolean | undefined, slotStart: number) =>
      decode(
        // with beginBlock, as a cached denoiser: the plan counts cached steps after the first forward
        {
          denoiser: Object.assign(new ScriptedDenoiser(slotStart, script('abcd', 4, 0.9, 0.1)), { beginBlock: () => undefined }),
          tokenizer: charTokenizer,
          model,
          cost: { ...linear }, // decode learns the machine's speed into it (observeForwards)
        },
        { ...request, ...(plan === undefined ? {} : { plan }) },
      );
    const planned = await run(undefined, 300);
    assert.ok(planned.plan, 'the trace carries the plan');
    assert.equal(planned.plan.contextTokens, 300);
    assert.equal(planned.prefixTokens, planned.plan.contextTokens);
    assert.equal(planned.plan.contextAvailable, 400);
    const whole = await run(false, 400);
    assert.equal(whole.plan, undefined);
    assert.equal(whole.prefixTokens, 400);
  });
});
