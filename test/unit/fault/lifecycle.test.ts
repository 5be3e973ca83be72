// The lifecycle below the editor (src/client/modelLifecycle.ts). Its state machine runs in process over a fake client
// (fakeClient.ts: the events of src/client/serverProcess.ts, no server, no wall clock); the first-load failure, whose
// message comes from the real client, runs on the real client and server (as does a crash during a load, in
// lifecycleRace.test.ts).
// Before the fix there was no such owner: a failed load left a stale error, a failed deep load dropped the
// working model, a failed state reloaded per request, and a crash restart left the session without a model.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelLifecycle, type LifecycleState } from '../../../src/client/modelLifecycle';
import { FakeClient } from './fakeClient';
import { hostileCopy, LOAD, newClient, slow } from './helpers';

const BROKEN = '/models/broken';

describe('fault: the model lifecycle', function () {
  this.timeout(60_000);

  it('a failed deep load keeps the last good model (the server kept it), reported once; a later good load clears the problem', async () => {
    // the manifest and tokenizer pass, the graph fails a probe: a "deep" failure in the server
    const problem = 'unmask.json: field "topK" is 4, but the graph answers 8 alternatives';
    const client = new FakeClient((folder) => (folder === BROKEN ? problem : undefined));
    const lifecycle = new ModelLifecycle(client);
    const seen: LifecycleState[] = [];
    lifecycle.onDidChange((s) => seen.push(s));
    try {
      await lifecycle.load(LOAD);
      const good = lifecycle.info!;
      assert.equal(await lifecycle.load({ ...LOAD, modelDir: BROKEN }), good);
      const state = lifecycle.state;
      assert.ok(state.kind === 'ready' && state.problem === problem, JSON.stringify(state));
      assert.equal(client.modelInfo?.modelDir, LOAD.modelDir, 'completions go on with the last good model');
      assert.equal(seen.filter((s) => s.kind === 'ready' && s.problem).length, 1);
      await lifecycle.load(LOAD);
      assert.deepEqual(lifecycle.state, { kind: 'ready', info: lifecycle.info });
      assert.deepEqual(client.loads, [LOAD.modelDir, BROKEN, LOAD.modelDir]);
    } finally {
      lifecycle.dispose();
    }
  });

  it('a first load that fails, then a good one: completions work (no stale error)', async () => {
    const client = newClient();
    const lifecycle = new ModelLifecycle(client);
    const broken = hostileCopy((d) => fs.unlinkSync(path.join(d, 'model.onnx')));
    try {
      assert.equal(await lifecycle.load({ ...LOAD, modelDir: broken.dir }), undefined);
      assert.equal(lifecycle.state.kind, 'failed');
      await assert.rejects(client.complete(slow(2)), /no model is loaded \(loading failed: .*model\.onnx: missing/);
      await lifecycle.load(LOAD);
      assert.equal(lifecycle.state.kind, 'ready');
      assert.equal((await client.complete(slow(2))).stats.forwards, 2);
    } finally {
      broken.remove();
      lifecycle.dispose();
      client.dispose();
    }
  });

  it('while failed, asking for the model does not reload it per request: one retry per back-off', async () => {
    const client = new FakeClient((folder) => (folder === BROKEN ? 'model.onnx: missing' : undefined));
    let now = 0;
    const lifecycle = new ModelLifecycle(client, { retryDelaysMs: [1000, 5000], now: () => now });
    const seen: LifecycleState[] = [];
    lifecycle.onDidChange((s) => seen.push(s));
    try {
      await lifecycle.load({ ...LOAD, modelDir: BROKEN });
      assert.equal(lifecycle.loadsRequested, 1);
      for (let i = 0; i < 50; i++) assert.equal(await lifecycle.ready(), undefined); // 50 keystrokes
      assert.equal(lifecycle.loadsRequested, 1);
      now = 1000;
      await lifecycle.ready();
      assert.equal(lifecycle.loadsRequested, 2);
      now = 2000; // the next wait is 5 s
      for (let i = 0; i < 50; i++) await lifecycle.ready();
      assert.equal(lifecycle.loadsRequested, 2);
      // failed → loading → failed (the same failure again is a new try, reported with its loading state)
      assert.deepEqual(
        seen.map((s) => s.kind),
        ['loading', 'failed', 'loading', 'failed'],
      );
      assert.equal(client.loads.length, 2);
    } finally {
      lifecycle.dispose();
    }
  });

  it('follows a crash restart: loading, then ready again without a new load, each state once', async () => {
    const client = new FakeClient();
    const lifecycle = new ModelLifecycle(client);
    try {
      await lifecycle.load(LOAD);
      const seen: LifecycleState[] = [];
      lifecycle.onDidChange((s) => seen.push(s));
      client.kill();
      assert.equal(lifecycle.state.kind, 'loading');
      const info = await lifecycle.ready();
      assert.equal(info?.modelDir, LOAD.modelDir);
      assert.equal(client.starts, 2, 'a new server process');
      assert.equal(lifecycle.loadsRequested, 1, 'the client restored the model; the lifecycle did not load it again');
      assert.deepEqual(client.loads, [LOAD.modelDir]);
      assert.deepEqual(
        seen.map((s) => s.kind),
        ['loading', 'ready'],
      );
    } finally {
      lifecycle.dispose();
    }
  });
});
