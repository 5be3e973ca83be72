// The team server (serve/, Ray Serve over KServe v2) started on 127.0.0.1 by the suite, once: completions through it
// equal the local folder's, the token is required, cancellation reaches the forward in flight, and a server killed
// mid-request is a named error well within the request deadline while the editor's model process goes on (last: it
// kills the suite's server).
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { buildRequest, decode, DEFAULT_POLICY } from '../../../src/engine';
import { CancelledError } from '../../../src/engine/types';
import { readTasks } from '../../../src/bench/tasks';
import { loadModel, type LoadedModel } from '../../../src/model';
import { completeFile } from '../../../src/cli/complete';
import { ModelClient } from '../../../src/client/modelClient';
import { ErrorCodes, UnmaskError } from '../../../src/protocol';
import { completeRemote, openRemote } from '../../../src/remote/complete';
import { launchServer, type LaunchedServer } from '../../../src/remote/launch';
import type { RemoteModel } from '../../../src/remote/remoteModel';
import { BINARY_HEADER, binaryRequest, parseInferAnswer } from '../../../src/remote/kserve';
import { SERVER } from '../fault/helpers';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const MODEL = path.join(ROOT, 'models', 'default');
const TOKEN = 'test-token-remote-0123456789';

describe('team server (serve/, KServe v2 on Ray Serve)', function () {
  this.timeout(240_000);
  let server: LaunchedServer;
  let local: LoadedModel;
  let remote: RemoteModel;

  before(async () => {
    server = await launchServer({ modelDir: MODEL, token: TOKEN, readyTimeoutMs: 200_000 });
    local = await loadModel(MODEL, { executionProvider: 'cpu', threads: 1 });
    remote = await openRemote({ serverUrl: server.url, token: TOKEN, timeoutMs: 30_000 });
  });
  after(async () => {
    await local?.dispose();
    await server?.stop();
  });

  it('completes a file through the server with the text of the local folder (npm run complete --server-url)', async () => {
    const at = { file: path.join(ROOT, 'examples', 'primes.py'), line: 13, col: 40, timeBudgetMs: 0 as const, threads: 1 };
    const here = await completeFile(at);
    process.env.UNMASK_SERVER_TOKEN = TOKEN;
    try {
      const there = await completeFile({ ...at, serverUrl: server.url });
      assert.equal(there.result.text, here.result.text);
      assert.equal(there.stats.forwards, here.stats.forwards);
    } finally {
      delete process.env.UNMASK_SERVER_TOKEN;
    }
  });

  it('answers every forward as the local graph does: the same text and the same steps on tasks of each bench file', async () => {
    const files = readTasks(path.join(ROOT, 'bench', 'tasks'), 1);
    for (const file of files) {
      for (const task of file.tasks) {
        const request = buildRequest({ before: task.prompt, after: task.suffix }, { policy: DEFAULT_POLICY, endOfTextPrediction: true }, file.singleLine);
        const [a, b] = [await decode(local, request), await decode(remote, request)];
        assert.equal(b.result.text, a.result.text, task.task_id);
        assert.deepEqual(
          b.steps.map((s) => s.unmasked.map((u) => [u.slot, u.token, u.p])),
          a.steps.map((s) => s.unmasked.map((u) => [u.slot, u.token, u.p])),
          task.task_id,
        );
      }
    }
  });

  it('speaks both tensor encodings of KServe v2: JSON tensors answer what the binary extension does; a bad binary body is a 400 naming it', async () => {
    const canvas = Array.from({ length: 40 }, (_, i) => 5 + ((i * 37) % 700));
    const positions = [30, 31, 32];
    const url = `${server.url}/v2/models/${remote.denoiser.model}/infer`;
    const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    const json = await fetch(url, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        inputs: [
          { name: 'input_ids', datatype: 'INT64', shape: [1, canvas.length], data: canvas },
          { name: 'positions', datatype: 'INT64', shape: [1, positions.length], data: positions },
        ],
      }),
    });
    assert.equal(json.status, 200);
    assert.equal(json.headers.get(BINARY_HEADER), null, 'JSON asked, JSON answered');
    const plain = parseInferAnswer(new Uint8Array(await json.arrayBuffer()), undefined);
    const binary = await remote.denoiser.client.infer(
      remote.denoiser.model,
      [
        { name: 'input_ids', datatype: 'INT64', shape: [1, canvas.length], data: BigInt64Array.from(canvas, BigInt) },
        { name: 'positions', datatype: 'INT64', shape: [1, positions.length], data: BigInt64Array.from(positions, BigInt) },
      ],
      ['top_ids', 'top_probs', 'entropy'],
    );
    for (const name of ['top_ids', 'top_probs', 'entropy']) {
      assert.deepEqual(binary.get(name)!.shape, plain.get(name)!.shape, name);
      assert.deepEqual([...binary.get(name)!.data].map(Number), [...plain.get(name)!.data].map(Number), name);
    }
    const { body, headerLength } = binaryRequest([{ name: 'input_ids', datatype: 'INT64', shape: [1, 3], data: BigInt64Array.of(5n, 6n, 7n) }], []);
    const short = await fetch(url, { method: 'POST', headers: { ...headers, [BINARY_HEADER]: String(headerLength) }, body: body.subarray(0, body.length - 4) });
    assert.equal(short.status, 400);
    assert.match(await short.text(), /binary_data_size/);
  });

  it('refuses a missing or wrong token (401) with RemoteUnauthorized', async () => {
    for (const token of [undefined, 'wrong-token-0123456789']) {
      await assert.rejects(
        openRemote({ serverUrl: server.url, ...(token ? { token } : {}) }),
        (e: unknown) => e instanceof UnmaskError && e.code === ErrorCodes.remoteUnauthorized,
      );
    }
    const raw = await fetch(`${server.url}/v2/models/unmask-tiny-code/infer`, { method: 'POST', body: '{}' });
    assert.equal(raw.status, 401);
    assert.equal((await fetch(`${server.url}/v2/health/ready`)).status, 200);
  });

  it('cancels: an aborted decode stops, the forward in flight included, with CancelledError', async () => {
    const request = buildRequest({ before: 'def f(x):\n    return ', after: '\n' }, { policy: DEFAULT_POLICY, endOfTextPrediction: true });
    const controller = new AbortController();
    let steps = 0;
    const t0 = performance.now();
    const done = completeRemote(
      { serverUrl: server.url, token: TOKEN },
      { ...request, slots: 24 },
      {
        signal: controller.signal,
        onStep: () => {
          steps++;
          if (steps === 2) controller.abort();
        },
      },
    );
    await assert.rejects(done, (e: unknown) => e instanceof CancelledError);
    assert.equal(steps, 2);
    // aborted while a forward is in flight: the fetch itself is aborted
    const inFlight = new AbortController();
    const forward = remote.denoiser.forward([5, 6, 3, 3], [2, 3], inFlight.signal);
    inFlight.abort();
    await assert.rejects(forward, (e: unknown) => e instanceof CancelledError);
    assert.ok(performance.now() - t0 < 30_000);
  });

  it("the editor's model process completes through the server (LoadRequest.server); killed mid-request, a named error, and the editor goes on", async () => {
    const client = new ModelClient({ serverModule: SERVER });
    try {
      const request = buildRequest({ before: 'def f(x):\n    return ', after: '\n' }, { policy: DEFAULT_POLICY, endOfTextPrediction: true });
      const info = await client.load({ modelDir: MODEL, executionProvider: 'cpu', threads: 1, server: { url: server.url, token: TOKEN } });
      assert.equal(info.executionProvider, 'remote');
      const there = await client.complete(request);
      assert.equal(there.result.text, (await decode(local, request)).result.text);
      // killed mid-request (the suite's last use of it): a named error well within the 10 s request deadline
      let steps = 0;
      let killedAt = 0;
      const dying = client.complete({ ...request, slots: 24, policy: { name: 'sequential' } }, undefined, () => {
        if (++steps === 1) {
          killedAt = performance.now();
          server.kill();
        }
      });
      await assert.rejects(dying, (e: unknown) => e instanceof UnmaskError && e.code === ErrorCodes.remoteUnavailable);
      assert.ok(performance.now() - killedAt < 10_000, `failed ${Math.round(performance.now() - killedAt)} ms after the kill`);
      // the command line's model fails as fast, with the same name
      const t1 = performance.now();
      await assert.rejects(decode(remote, request), (e: unknown) => e instanceof UnmaskError && e.code === ErrorCodes.remoteUnavailable);
      assert.ok(performance.now() - t1 < 10_000);
      // the model process is alive: it answers, and loads and completes with the local folder
      assert.ok(await client.serverStats());
      await client.load({ modelDir: MODEL, executionProvider: 'cpu', threads: 1 });
      assert.equal((await client.complete(request)).result.text, there.result.text);
    } finally {
      client.dispose();
    }
  });
});
