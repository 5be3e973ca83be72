// A model load and a completion sent together, in both orders, are both answered (reliability round 3, item 2).
// Against the code before the fix: the load waited for the decode running when the new model was ready (the
// completion that arrived during the load), and that completion waited for the load, so neither answered; stats
// still did, so the liveness check never fired and the client's 60 s deadline killed the server.
// UNMASK_RACE_ROUNDS (default 3) repeats each order; the check is 20 rounds in a row.
import * as assert from 'node:assert/strict';
import { Requests, type CompleteParams, type ModelInfo, type Trace } from '../../../src/protocol';
import { LOAD, rawServer, slow } from './helpers';

const ROUNDS = Number(process.env.UNMASK_RACE_ROUNDS ?? 3);
/** Far under the client's 60 s deadline, far over a load (about 1 s) and a 4-forward decode of the bundled model. */
const ANSWER_WITHIN_MS = 20_000;

function within<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ANSWER_WITHIN_MS} ms (deadlock)`)), ANSWER_WITHIN_MS);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

describe('fault: a load and a completion arriving together', function () {
  this.timeout(ROUNDS * 2 * ANSWER_WITHIN_MS + 30_000);

  it(`are both answered, load first and completion first, ${ROUNDS} rounds each`, async () => {
    const raw = rawServer();
    try {
      await raw.connection.sendRequest(Requests.load, LOAD);
      for (let round = 0; round < ROUNDS; round++) {
        for (const order of ['load first', 'completion first'] as const) {
          const complete = () =>
            raw.connection.sendRequest(Requests.complete, { id: round, request: slow(4), streamSteps: false } satisfies CompleteParams) as Promise<Trace>;
          const load = () => raw.connection.sendRequest(Requests.load, LOAD) as Promise<ModelInfo>;
          // sent in this order, on the same turn: the server sees them back to back
          const sent = order === 'load first' ? { l: load(), c: complete() } : (({ c }) => ({ c, l: load() }))({ c: complete() });
          const [info, trace] = await Promise.all([
            within(sent.l, `round ${round}, ${order}: the load`),
            within(sent.c, `round ${round}, ${order}: the completion`),
          ]);
          assert.equal(info.modelDir, LOAD.modelDir, `round ${round}, ${order}: the load answered with the model`);
          assert.equal(trace.stats.forwards, 4, `round ${round}, ${order}: the completion ran its 4 forwards`);
        }
      }
    } finally {
      raw.dispose();
    }
  });
});
