// Loads beside running work, threads, and what a manifest leaves unchecked (reliability round 2, D, F and H).
// D: every model load cancelled the running decode, Fill Selection and Compare included, and Fill returned silently.
// F: unmask.threads accepted 64 on a 2-core machine (a completion 8× slower). H: a manifest without vocabDigest, or
// with logitsShift 1 on a model trained with 0, loaded without a word.
// Against the code before the fix: the Fill is rejected as Cancelled by the load; the cancelled Fill shows nothing;
// threads 64 stays 64 with no log line; no warning is logged for either manifest.
import { editorState, fakeEditor, shown } from './vscodeStub';
import * as assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { fillSelection } from '../../../src/editor/fillSelection';
import { CancelledError } from '../../../src/engine';
import { defaultSettings, readSettings } from '../../../src/settings';
import { editManifest, hostileCopy, LOAD, newClient, sleep, slow } from './helpers';

/** Waits until `logs` has a line matching `pattern` (server lines arrive on stderr, beside the answer), at most 10 s. */
async function logged(logs: string[], pattern: RegExp): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const at = logs.findIndex((l) => pattern.test(l));
    if (at >= 0) return at;
    await sleep(50);
  }
  assert.fail(`no log line matches ${pattern}:\n${logs.join('\n')}`);
}

describe('fault: loads beside running work, threads, manifest warnings', function () {
  this.timeout(90_000);

  it('a model load waits for a running Fill Selection and Compare instead of cancelling them', async () => {
    const client = newClient();
    try {
      await client.load(LOAD);
      for (const channel of ['fill', 'compare']) {
        let load: Promise<unknown> | undefined;
        const trace = await client.complete(
          slow(40),
          undefined,
          () => {
            load ??= client.load(LOAD);
          },
          { channel },
        );
        assert.ok(load, 'the load was sent during the decode');
        assert.equal(trace.stats.forwards, 40, `${channel} ran to its end`);
        assert.equal(((await load) as { modelDir: string }).modelDir, LOAD.modelDir);
      }
      assert.equal((await client.complete(slow(2))).stats.forwards, 2);
    } finally {
      client.dispose();
    }
  });

  it('a Fill Selection cancelled by anything but its own Cancel button says why', async () => {
    const text = 'def f(x):\n    return x + 1\n';
    editorState.active = fakeEditor(text, 21, 26);
    shown.length = 0;
    const ctx = {
      config: { current: defaultSettings },
      model: {
        state: { kind: 'ready' },
        ready: async () => ({ maxSequence: 512 }),
        complete: async () => {
          throw new CancelledError('superseded by a newer completion');
        },
      },
      history: { add: () => undefined },
    };
    await fillSelection(ctx as never);
    assert.deepEqual(shown, [
      {
        kind: 'warning',
        message:
          'Unmask: Fill Selection was cancelled before it finished (superseded by a newer completion); ' +
          'the selection is unchanged. Run it again to fill it.',
      },
    ]);
    editorState.active = undefined;
  });

  it("threads above the machine's cores are clamped, with a log line: in the settings and in the server", async function () {
    const cores = availableParallelism();
    if (cores >= 64) this.skip(); // nothing to clamp
    const { settings, notes, problems } = readSettings((key) => (key === 'threads' ? 64 : undefined), defaultSettings, cores);
    assert.deepEqual([settings.threads, problems, notes], [cores, [], [`unmask.threads is 64, more than this machine's ${cores} cores: using ${cores}`]]);
    const logs: string[] = [];
    const client = newClient({}, logs);
    try {
      const info = await client.load({ ...LOAD, threads: 64 });
      assert.equal(info.threads, cores);
      await logged(logs, new RegExp(`^info: \\[server\\] warning: load\\.threads is 64, more than this machine's ${cores} cores: using ${cores}$`));
    } finally {
      client.dispose();
    }
  });

  it('a manifest without vocabDigest, and one whose logitsShift the model contradicts, are warned about in the log', async () => {
    const logs: string[] = [];
    const client = newClient({}, logs);
    const noDigest = hostileCopy(editManifest((m) => delete m.vocabDigest));
    const shifted = hostileCopy(editManifest((m) => (m.logitsShift = 1)));
    try {
      await client.load(LOAD);
      await client.load({ ...LOAD, modelDir: noDigest.dir });
      const at = await logged(
        logs,
        /^info: \[server\] warning: .*unmask\.json has no "vocabDigest": a tokenizer\.json of the right size whose ids mean other text/,
      );
      assert.deepEqual(
        logs.slice(0, at).filter((l) => /warning:/.test(l)),
        [],
        'the bundled model loads without a warning',
      );
      await client.load({ ...LOAD, modelDir: shifted.dir });
      await logged(
        logs,
        /^info: \[server\] warning: .*unmask\.json: field "logitsShift" is 1, but the model's predictions read as logitsShift 0 got \d+ of \d+ masked tokens of a probe text right, against \d+ as declared/,
      );
    } finally {
      client.dispose();
      noDigest.remove();
      shifted.remove();
    }
  });
});
