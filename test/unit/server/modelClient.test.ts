// The client forks the real server (dist/server.js, built by test/unit/setup.ts) on the shipped model.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ModelClient, type ClientState } from '../../../src/client/modelClient';
import { MODEL_DIR, request, SERVER } from '../fault/helpers';
import { CancelledError } from '../../../src/engine/types';
import { ErrorCodes, hasErrorCode, UnmaskError, type Trace, type TraceStep } from '../../../src/protocol';

/** Many forwards: one slot per step, no end-of-text shortcut. */
const slow = () => request({ slots: 96, singleLine: false, policy: { name: 'sequential' }, eotp: false });

describe('model client and server process', function () {
  this.timeout(60_000);
  let client: ModelClient;
  const states: [ClientState, string | undefined][] = [];
  const logs: string[] = [];

  before(async () => {
    client = new ModelClient({
      serverModule: SERVER,
      restartDelaysMs: [50, 50, 50],
      log: (level, msg) => logs.push(`${level}: ${msg}`),
    });
    client.onDidChangeState((s, d) => states.push([s, d]));
    const info = await client.load({ modelDir: MODEL_DIR, executionProvider: 'cpu', threads: 2 });
    assert.equal(info.executionProvider, 'cpu');
    assert.equal(info.modelDir, MODEL_DIR);
  });
  after(() => client?.dispose());

  it('completes and streams one step per forward', async () => {
    const streamed: TraceStep[] = [];
    const trace = await client.complete(request(), undefined, (s) => streamed.push(s));
    assert.equal(streamed.length, trace.stats.forwards);
    assert.deepEqual(streamed, trace.steps);
    const slots = trace.steps.flatMap((s) => s.unmasked.map((u) => u.slot)).sort((a, b) => a - b);
    assert.deepEqual(
      slots,
      Array.from({ length: 16 }, (_, i) => i),
    );
  });

  it('a newer request supersedes the running one, which settles as Cancelled', async () => {
    const older = client.complete(slow());
    await new Promise((r) => setTimeout(r, 30));
    const newer = client.complete(request());
    await assert.rejects(older, (e: Error) => e instanceof CancelledError);
    assert.ok((await newer).stats.forwards >= 1);
  });

  it('a request the server refuses fails with the error class and code the server sent', async () => {
    await assert.rejects(
      client.complete(request({ slots: 1_000_000 })),
      (e: Error) => e instanceof UnmaskError && e.code === ErrorCodes.invalidRequest && /slots/.test(e.message),
    );
  });

  it('an aborted request settles as Cancelled and the server stops it', async () => {
    const controller = new AbortController();
    let steps = 0;
    const p = client.complete(slow(), controller.signal, () => ++steps === 2 && controller.abort());
    await assert.rejects(p, { name: 'Cancelled' });
    const after = steps;
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(steps <= after + 1, `${steps - after} more steps after the abort`);
  });

  it('survives kill -9: the request in flight fails naming the crash, the next one is served', async () => {
    const pid = client.pid!;
    let first = true;
    const inFlight = client.complete(slow(), undefined, () => first && !(first = false) && process.kill(pid, 'SIGKILL'));
    await assert.rejects(inFlight, (e: Error) => hasErrorCode(e, ErrorCodes.serverCrashed) && /model server crashed \(killed by SIGKILL\)/.test(e.message));
    const trace: Trace = await client.complete(request());
    assert.ok(trace.stats.forwards >= 1);
    assert.notEqual(client.pid, pid);
    assert.ok(states.some(([s]) => s === 'crashed'));
    assert.equal(states.at(-1)?.[0], 'ready');
  });

  it('a broken model folder is refused with the problem, reported once, and the last good model stays in use', async () => {
    // before the lifecycle owned the model, the client dropped the working model (every completion then failed with the folder's error)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-broken-'));
    fs.copyFileSync(path.join(MODEL_DIR, 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
    fs.copyFileSync(path.join(MODEL_DIR, 'unmask.json'), path.join(dir, 'unmask.json'));
    const before = states.length;
    const logged = logs.length;
    try {
      await assert.rejects(
        client.load({ modelDir: dir, executionProvider: 'cpu', threads: 1 }),
        (e: Error) => hasErrorCode(e, ErrorCodes.modelLoad) && /model\.onnx: missing/.test(e.message),
      );
      assert.ok((await client.complete(request())).stats.forwards >= 1);
      assert.equal(client.modelInfo?.modelDir, MODEL_DIR);
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(
        states.slice(before).map(([s]) => s),
        [],
      );
      assert.equal(logs.slice(logged).filter((l) => /model\.onnx: missing/.test(l) && /still using/.test(l)).length, 1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    // and a good folder loads again
    await client.load({ modelDir: MODEL_DIR, executionProvider: 'cpu', threads: 2 });
    assert.ok((await client.complete(request())).stats.forwards >= 1);
  });
});
