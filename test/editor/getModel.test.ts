// Get Model in the real editor: the fake Hub (test/unit/hub/fakeHub.ts) serves a tiny random Qwen2 checkpoint on
// 127.0.0.1; Unmask: Get Model… → "Type any Hub repository…" → the progress notification → the converted model is
// loaded (the status bar names it) and answers a completion; Manage Models lists it and switches back. The checkpoint
// comes from test/unit/tinyCheckpoints.ts (built once per sources); without Python and torch this fails, it does not skip.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FakeHub } from '../unit/hub/fakeHub';
import { copyTinyCheckpoints } from '../unit/tinyCheckpoints';
import { bench, traces, typeOnNewLine, unmaskLog } from './hooks';
import { waitFor, waitForText } from './workbench';

const REPO = 'tiny-org/tiny-qwen2';
const MODEL = 'tiny-qwen2-int8';

// The extension host inherits code-server's environment, which the root hook builds from this process's when the
// suite starts, after every spec file is loaded: so HF_ENDPOINT is set here, on a port found free now, and the fake
// Hub listens on it in `before`.
const PORT = Number(
  spawnSync(process.execPath, ['-e', "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })"], {
    encoding: 'utf8',
  }).stdout.trim(),
);
process.env.HF_ENDPOINT = `http://127.0.0.1:${PORT}`;

describe('Get Model', function () {
  this.timeout(600_000);
  let tmp = '';
  let hub: FakeHub | undefined;

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-editor-getmodel-'));
    copyTinyCheckpoints(tmp, ['qwen2']);
    hub = new FakeHub();
    hub.repos.set(REPO, { dir: path.join(tmp, 'qwen2'), commit: 'd'.repeat(40) });
    // each file body waits, so the progress notification stays on screen while the test finds it and reads it (a
    // few hundred ms): 12 bodies (the precheck's 9, the download's 3) keep it there ≥ 3 s before the conversion
    hub.delayMs = 250;
    await hub.start(PORT);
  });
  after(async () => {
    await hub?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('Get Model from a typed repository shows its progress, then the new model answers a completion', async () => {
    const wb = bench();
    await waitFor(() => wb.modelReady(), 'the bundled model to be loaded first', 60_000);
    await wb.clearNotifications();
    await wb.runCommand('Unmask: Get Model…');
    const typeAny = wb.page.locator('.quick-input-widget .monaco-list-row', { hasText: 'Type any Hub repository' }).first();
    await typeAny.waitFor({ timeout: 10_000 });
    assert.ok((await wb.page.locator('.quick-input-widget .monaco-list-row', { hasText: 'Open-dCoder 0.5B' }).count()) > 0, 'the catalog is offered');
    await typeAny.click();
    // the repository box replaces the quick pick: wait for its own title, so no keystroke lands in the pick or the editor
    await wb.page.locator('.quick-input-widget .quick-input-title', { hasText: 'Unmask: Hub repository' }).waitFor({ state: 'visible', timeout: 10_000 });
    const input = wb.page.locator('.quick-input-widget input.input');
    await input.fill(REPO);
    await waitFor(async () => (await input.inputValue()) === REPO, `the repository box to hold ${REPO}`, 10_000);
    await input.press('Enter');
    try {
      const progress = await wb.waitForNotification(`Unmask: getting ${REPO}`, 30_000);
      // the title renders before the first step's message (a CI run read it in between): wait for the message
      const step = /listing|downloading|converting|checking/;
      const shown = await waitForText(
        async () => (await progress.textContent()) ?? '',
        (t) => step.test(t),
      );
      assert.match(shown, step);
      await waitFor(async () => (await wb.statusText()).includes(MODEL), `the status bar to show ${MODEL} loaded`, 180_000);
      assert.match(unmaskLog(), new RegExp(`get model: ${REPO} at d{40} → \\S+${MODEL}`));
      await wb.openFile('main.py');
      const before = traces().length;
      const trace = await typeOnNewLine('x = ', `a completion from ${MODEL}`, 60_000);
      assert.ok(traces().length > before);
      assert.ok(trace.stats.forwards >= 1, `the downloaded model decoded (${trace.stats.forwards} forwards)`);

      // Manage Models lists it, in use, with its origin; picking the bundled demonstrator switches back
      await wb.runCommand('Unmask: Manage Models');
      const row = wb.page.locator('.quick-input-widget .monaco-list-row', { hasText: MODEL }).first();
      await row.waitFor({ timeout: 10_000 });
      const text = (await row.textContent()) ?? '';
      assert.match(text, /in use/);
      assert.match(text, new RegExp(`${REPO} at d{12}, int8`));
      await wb.page.locator('.quick-input-widget .monaco-list-row', { hasText: 'The bundled demonstrator' }).first().click();
      await waitFor(async () => (await wb.statusText()).includes('unmask-tiny-code'), 'Manage Models to switch back to the bundled model', 60_000);
    } finally {
      // back to the bundled model for whatever runs next: Get Model set unmask.modelFolder (machine scope)
      // (written by the extension to the remote machine settings, or to the user settings where a host puts it there)
      const user = JSON.parse(fs.readFileSync(wb.server.userSettings, 'utf8')) as Record<string, unknown>;
      if ('unmask.modelFolder' in user) {
        delete user['unmask.modelFolder'];
        fs.writeFileSync(wb.server.userSettings, `${JSON.stringify(user, null, 2)}\n`);
      }
      await wb.setSetting('unmask.modelFolder', undefined);
      await waitFor(async () => (await wb.statusText()).includes('unmask-tiny-code'), 'the bundled model to be loaded again', 60_000);
    }
  });
});
