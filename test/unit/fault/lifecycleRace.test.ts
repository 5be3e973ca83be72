// The lifecycle's races (reliability round 2, C and E). A crash during a load runs over the real client and server;
// the pre-check race and the twice-crashing folder run in process over a fake client (fakeClient.ts).
// C: load(A) with a slow pre-check, then load(default): the lifecycle said default while the server ran A.
// E: a crash while a new folder loaded ended ready on the old model with no problem: the folder the user chose was
//    never loaded nor retried, and nothing said so.
// Against the code before the fix: C ends with the server on A; E1 ends on the old folder; E2's state has no
// problem naming the folder once the client restored the old model.
import * as assert from 'node:assert/strict';
import { ModelLifecycle, type LoadTarget } from '../../../src/client/modelLifecycle';
import type { ModelClient } from '../../../src/client/modelClient';
import { FakeClient } from './fakeClient';
import { hostileCopy, LOAD, newClient, slow } from './helpers';

/**
 * The real client, whose server is killed (SIGKILL) during each of the first `times` loads of `folder`: the load is
 * sent only once the client has restored the model after the previous kill, so that each kill hits that load.
 */
function crashingOn(client: ModelClient, folder: string, times: number): Pick<ModelClient, 'load' | 'onDidChangeState' | 'modelInfo'> & { crashes: number } {
  let restored: Promise<void> = Promise.resolve();
  const wrapper = {
    crashes: 0,
    get modelInfo() {
      return client.modelInfo;
    },
    onDidChangeState: client.onDidChangeState.bind(client),
    load: async (target: LoadTarget) => {
      await restored;
      const loading = client.load(target);
      if (target.modelDir === folder && wrapper.crashes < times) {
        wrapper.crashes++;
        restored = new Promise((resolve) => {
          const sub = client.onDidChangeState((state, detail) => {
            if (state === 'ready' && /restarted after/.test(detail ?? '')) {
              sub.dispose();
              resolve();
            }
          });
        });
        // the request is on its way after one turn; a load takes far longer than this
        void new Promise((r) => setTimeout(r, 20)).then(() => {
          if (client.pid) process.kill(client.pid, 'SIGKILL');
        });
      }
      return loading;
    },
  };
  return wrapper;
}

describe('fault: the lifecycle under races and crashes', function () {
  this.timeout(90_000);

  it('a pre-check result that is no longer wanted is dropped: load(A) slow, then load(default) → the server runs default', async () => {
    const client = new FakeClient();
    const a = '/models/a';
    let releaseA!: () => void;
    const aChecked = new Promise<void>((r) => (releaseA = r));
    const lifecycle = new ModelLifecycle(client, {
      precheck: async (folder) => {
        if (folder === a) await aChecked;
        return undefined;
      },
    });
    try {
      const loadingA = lifecycle.load({ ...LOAD, modelDir: a });
      const info = await lifecycle.load(LOAD);
      assert.equal(info?.modelDir, LOAD.modelDir);
      releaseA(); // A's pre-check answers only now
      await loadingA;
      assert.equal(client.modelInfo?.modelDir, LOAD.modelDir, 'the server runs the folder the lifecycle reports');
      assert.ok(lifecycle.state.kind === 'ready' && lifecycle.state.info.modelDir === LOAD.modelDir, JSON.stringify(lifecycle.state));
      assert.equal(lifecycle.loadsRequested, 1, 'A was never sent');
      assert.deepEqual(client.loads, [LOAD.modelDir]);
    } finally {
      lifecycle.dispose();
    }
  });

  it('a crash while a new folder loads: the folder is loaded again, once, and is the one in use', async () => {
    const client = newClient();
    const b = hostileCopy(() => undefined);
    const crashing = crashingOn(client, b.dir, 1);
    const lifecycle = new ModelLifecycle(crashing);
    try {
      await lifecycle.load(LOAD);
      const info = await lifecycle.load({ ...LOAD, modelDir: b.dir });
      assert.equal(crashing.crashes, 1);
      assert.equal(info?.modelDir, b.dir);
      assert.deepEqual(lifecycle.state, { kind: 'ready', info });
      assert.equal(client.modelInfo?.modelDir, b.dir);
      assert.equal(lifecycle.loadsRequested, 3, 'default, then the new folder twice');
      assert.equal((await client.complete(slow(2))).stats.forwards, 2);
    } finally {
      lifecycle.dispose();
      client.dispose();
      b.remove();
    }
  });

  it('a folder whose loads crash twice is reported by name, and stays reported after the old model is restored', async () => {
    const client = new FakeClient();
    const b = '/models/b';
    client.crashDuringLoads(b, 2);
    const lifecycle = new ModelLifecycle(client);
    try {
      await lifecycle.load(LOAD);
      await lifecycle.load({ ...LOAD, modelDir: b });
      assert.deepEqual(client.loads, [LOAD.modelDir, b, b]);
      await client.restored(); // the client restores the old model after the second crash
      const state = lifecycle.state;
      assert.ok(state.kind === 'ready' && state.info.modelDir === LOAD.modelDir, JSON.stringify(state));
      assert.equal(client.modelInfo?.modelDir, LOAD.modelDir);
      assert.match(state.kind === 'ready' ? (state.problem ?? '') : '', new RegExp(`loading ${b} failed twice, the model server stopping each time`));
    } finally {
      lifecycle.dispose();
    }
  });
});
