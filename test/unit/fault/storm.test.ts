// Cancelled requests must not run. Counted in forwards (the server's own counters), never in ms: the storm's
// bound is per request that reached the server, so a loaded machine (slow timers, more requests let through) cannot
// fail it; the version before stated it in pauses of the test's own clock and failed once under load.
// Against the code before the fix these fail: the server ran a decode (≥ 1 forward) per request and read one
// message per forward, so the last answer came after ~1,000 forwards; and ModelClient had no serverStats.
import * as assert from 'node:assert/strict';
import { ErrorCodes, Requests, type CompleteParams, type Trace } from '../../../src/protocol';
import { LOAD, newClient, outcome, rawServer, request, sleep, slow } from './helpers';

describe('fault: a storm of completions', function () {
  this.timeout(120_000);
  const client = newClient();
  before(() => client.load(LOAD));
  after(() => client.dispose());

  it("a burst of 1,000 completions starts at most two decodes; the last answer comes within two decodes' worth of forwards", async () => {
    const s0 = (await client.serverStats())!;
    const all = Array.from({ length: 1000 }, () => outcome(client.complete(slow())));
    const results = await Promise.all(all);
    const last = results.at(-1)!;
    assert.ok(last.ok, `the last request failed: ${!last.ok && last.error.message}`);
    assert.ok(results.slice(0, -1).every((r) => !r.ok && r.error.name === 'Cancelled'));
    const s1 = (await client.serverStats())!;
    const decodes = s1.decodesStarted - s0.decodesStarted;
    const forwards = s1.forwards - s0.forwards;
    console.log(
      `      burst: ${s1.requests - s0.requests} requests reached the server, ${decodes} decodes started, ${forwards} forwards (last decode ${last.value.stats.forwards})`,
    );
    assert.ok(decodes <= 2, `${decodes} decodes started`);
    assert.ok(forwards <= 2 * last.value.stats.forwards, `${forwards} forwards for a last decode of ${last.value.stats.forwards}`);
  });

  it("1,000 completions 2 ms apart: a request reaching the server costs its decode's forwards up to its cancel, plus at most two", async () => {
    // The bound is in forwards per request that reached the server (the server's own count), not in time: how many
    // requests a storm lets through depends on the machine's timers (the client waits for a quiet channel), but
    // each one that was superseded ran only the forwards whose steps its caller saw before superseding it, plus
    // at most two in flight (the step on its way back, the forward that had started before the cancel arrived).
    const s0 = (await client.serverStats())!;
    const all: Promise<{ ok: boolean; value?: Trace; error?: Error }>[] = [];
    let stepsSeen = 0; // steps delivered to requests that were later superseded (the client drops later ones)
    for (let i = 0; i < 999; i++) {
      all.push(
        outcome(
          client.complete(slow(), undefined, () => {
            stepsSeen++;
          }),
        ),
      );
      await sleep(2);
    }
    const atLast = client.serverStats(); // sent at once: answered between two forwards
    const lastP = client.complete(slow());
    const sLast = (await atLast)!;
    const last = await lastP;
    const results = await Promise.all(all);
    assert.ok(results.every((r) => !r.ok && r.error!.name === 'Cancelled'));
    const s1 = (await client.serverStats())!;
    const reached = s1.requests - s0.requests;
    const decodes = s1.decodesStarted - s0.decodesStarted;
    const superseded = s1.forwards - s0.forwards - last.stats.forwards;
    const afterLast = s1.forwards - sLast.forwards;
    console.log(
      `      2 ms apart: ${reached} requests reached the server, ${decodes} decodes started, ${superseded} forwards in superseded decodes ` +
        `(${stepsSeen} steps seen by their callers); ${afterLast} forwards from the last request to its answer (its decode: ${last.stats.forwards})`,
    );
    assert.ok(decodes <= reached, `${decodes} decodes for ${reached} requests that reached the server`);
    assert.ok(
      superseded <= stepsSeen + 2 * (reached - 1),
      `${superseded} forwards in superseded decodes: more than the ${stepsSeen} steps ` +
        `their callers saw plus 2 for each of the ${reached - 1} superseded requests that reached the server`,
    );
    // the decode running when the last request came stops within two forwards; then the last one runs alone
    assert.ok(afterLast <= last.stats.forwards + 2, `the last answer came ${afterLast} forwards after its request`);
  });

  it('the server alone (any client): 300 requests sent at once start at most two decodes', async () => {
    const raw = rawServer();
    try {
      await raw.connection.sendRequest(Requests.load, LOAD);
      const sends = Array.from({ length: 300 }, (_, i) =>
        outcome(raw.connection.sendRequest(Requests.complete, { id: i, request: slow(), streamSteps: false } satisfies CompleteParams)),
      );
      const results = await Promise.all(sends);
      const stats = await raw.connection.sendRequest(Requests.stats);
      console.log(`      raw burst: ${stats.decodesStarted} decodes started, ${stats.forwards} forwards`);
      assert.ok(results.at(-1)!.ok);
      assert.ok(results.slice(0, -1).every((r) => !r.ok && (r.error as { code?: number }).code === ErrorCodes.cancelled));
      assert.ok(stats.decodesStarted <= 2, `${stats.decodesStarted} decodes started`);
    } finally {
      raw.dispose();
    }
  });

  it('Fill Selection and Compare are not superseded by inline completions, and can be cancelled', async () => {
    // item 2: before the fix every complete() superseded every other ("superseded by a newer completion")
    const fill = client.complete(slow(32), undefined, undefined, { channel: 'fill' });
    const inline = [];
    for (let i = 0; i < 20; i++) {
      inline.push(outcome(client.complete(request())));
      await sleep(5);
    }
    const fillTrace = await fill;
    assert.equal(fillTrace.stats.forwards, 32);
    const inlineResults = await Promise.all(inline);
    assert.ok(inlineResults.at(-1)!.ok, 'the last inline completion is served');
    const controller = new AbortController();
    const compare = client.complete(slow(64), controller.signal, () => controller.abort(), { channel: 'compare' });
    await assert.rejects(compare, { name: 'Cancelled' });
  });
});
