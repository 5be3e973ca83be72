// Issue 15, item 1: cancelled requests must not run. Counted in forwards (the server's own counters), not in ms.
// Against the code before the fix these fail: the server ran a decode (≥ 1 forward) per request and read one
// message per forward, so the last answer came after ~1,000 forwards; and ModelClient had no serverStats.
import * as assert from 'node:assert/strict';
import { ErrorCodes, Methods, type CompleteParams, type ServerStats, type Trace } from '../../../src/protocol';
import { LOAD, newClient, outcome, rawServer, request, sleep, slow } from './helpers';

/** ModelClient's default stormQuietMs. */
const QUIET_MS = 25;

describe('fault: a storm of completions', function () {
  this.timeout(120_000);
  const client = newClient();
  before(() => client.load(LOAD));
  after(() => client.dispose());

  it('a burst of 1,000 completions starts at most two decodes; the last answer comes within two decodes\' worth of forwards', async () => {
    const s0 = (await client.serverStats())!;
    const all = Array.from({ length: 1000 }, () => outcome(client.complete(slow())));
    const results = await Promise.all(all);
    const last = results.at(-1)!;
    assert.ok(last.ok, `the last request failed: ${!last.ok && last.error.message}`);
    assert.ok(results.slice(0, -1).every((r) => !r.ok && r.error.name === 'Cancelled'));
    const s1 = (await client.serverStats())!;
    const decodes = s1.decodesStarted - s0.decodesStarted;
    const forwards = s1.forwards - s0.forwards;
    console.log(`      burst: ${s1.requests - s0.requests} requests reached the server, ${decodes} decodes started, ${forwards} forwards (last decode ${last.value.stats.forwards})`);
    assert.ok(decodes <= 2, `${decodes} decodes started`);
    assert.ok(forwards <= 2 * last.value.stats.forwards, `${forwards} forwards for a last decode of ${last.value.stats.forwards}`);
  });

  it('1,000 completions 2 ms apart start at most three decodes; the last answer comes within two decodes\' worth of forwards', async () => {
    const s0 = (await client.serverStats())!;
    const all: Promise<{ ok: boolean; value?: Trace; error?: Error }>[] = [];
    let pauses = 0; // gaps longer than the client's quiet time, which a loaded machine's timers can make
    let sent = Date.now();
    for (let i = 0; i < 999; i++) {
      const now = Date.now();
      if (i > 0 && now - sent >= QUIET_MS) pauses++;
      sent = now;
      all.push(outcome(client.complete(slow())));
      await sleep(2);
    }
    const atLast = client.serverStats(); // sent at once: answered between two forwards
    const lastP = client.complete(slow());
    const sLast = (await atLast)!;
    const last = await lastP;
    const results = await Promise.all(all);
    assert.ok(results.every((r) => !r.ok && r.error!.name === 'Cancelled'));
    const s1 = (await client.serverStats())!;
    const decodes = s1.decodesStarted - s0.decodesStarted;
    const forwards = s1.forwards - s0.forwards;
    const afterLast = s1.forwards - sLast.forwards;
    console.log(`      2 ms apart: ${s1.requests - s0.requests} requests reached the server, ${decodes} decodes started, ${forwards} forwards;`
      + ` ${afterLast} forwards from the last request to its answer (its decode: ${last.stats.forwards})`);
    // a request that superseded another waits for a quiet channel: nothing new starts during the storm, only
    // the decode that was running when it began (stopped at its next step) and the last one
    assert.ok(decodes <= 3 + pauses, `${decodes} decodes started for 1,000 requests (${pauses} pauses of ${QUIET_MS} ms or more)`);
    assert.ok(forwards - last.stats.forwards <= 2 * (1 + pauses), `${forwards - last.stats.forwards} forwards in superseded decodes`);
    assert.ok(afterLast <= 2 * last.stats.forwards, `the last answer came ${afterLast} forwards after its request`);
  });

  it('the server alone (any client): 300 requests sent at once start at most two decodes', async () => {
    const raw = rawServer();
    try {
      await raw.connection.sendRequest(Methods.load, LOAD);
      const sends = Array.from({ length: 300 }, (_, i) =>
        outcome(raw.connection.sendRequest<Trace>(Methods.complete, { id: i, request: slow(), streamSteps: false } satisfies CompleteParams)));
      const results = await Promise.all(sends);
      const stats = await raw.connection.sendRequest<ServerStats>(Methods.stats);
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
