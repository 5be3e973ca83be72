// The command palette actions and settings, in the real editor.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { POLICY_NAMES } from '../../src/engine/policyTable';
import { bench, traces, typeOnNewLine, unmaskLog } from './hooks';
import { waitFor } from './workbench';

/** The user's settings.json; {} while the editor is still writing it (caught half-written, it is not JSON yet). */
function readUserSettings(): Record<string, unknown> {
  try {
    return JSON.parse(fs.readFileSync(bench().server.userSettings, 'utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}

describe('commands and settings', () => {
  afterEach(async () => {
    await bench().page.keyboard.press('Escape');
  });

  it("Fill Selection replaces a selected line with the model's infill once accepted", async () => {
    const wb = bench();
    const { page } = wb;
    const file = path.join(wb.server.workspace, 'util.ts');
    await wb.openFile('util.ts');
    const tried: string[] = [];
    // Lines of util.ts to refill, 1-based; the model may leave some empty.
    for (const line of [2, 6, 12, 13]) {
      await wb.goTo(line, 1);
      await page.keyboard.press('End');
      await page.keyboard.press('Home'); // first non-blank character
      await page.keyboard.press('Shift+End');
      const before = traces().length;
      await wb.runCommand('Unmask: Fill Selection');
      const toast = await wb.waitForNotification(/replace the selection with|left the selection empty/);
      await waitFor(async () => traces().length > before, 'the fill to be logged');
      const fill = traces()[traces().length - 1].suggestion;
      tried.push(`line ${line} → ${JSON.stringify(fill)}`);
      if (!fill) {
        await wb.clearNotifications();
        continue;
      }
      const original = fs.readFileSync(file, 'utf8').split('\n')[line - 1];
      const indent = original.match(/^\s*/)![0];
      await toast.getByRole('button', { name: 'Accept' }).click();
      await wb.save();
      const lines = fs.readFileSync(file, 'utf8').split('\n');
      assert.equal(lines.slice(line - 1, line - 1 + fill.split('\n').length).join('\n'), indent + fill);
      return;
    }
    assert.fail(`the model left every selection empty:\n${tried.join('\n')}`);
  });

  it('Choose Decoding Policy sets unmask.policy and the next completion uses it', async () => {
    const wb = bench();
    await wb.runCommand('Unmask: Choose Decoding Policy');
    const row = wb.page.locator('.quick-input-widget .monaco-list-row', { hasText: 'sequential' }).first();
    await row.waitFor();
    assert.equal(await wb.page.locator('.quick-input-widget .monaco-list-row').count(), POLICY_NAMES.length, 'one row per policy of the table');
    await row.click();
    await waitFor(async () => readUserSettings()['unmask.policy'] === 'sequential', 'unmask.policy = sequential in settings.json');
    await wb.openFile('main.py');
    assert.equal((await typeOnNewLine('x = ')).policy, 'sequential');
  });

  it('an invalid model folder gives an error naming the setting, and completions keep working', async () => {
    const wb = bench();
    await waitFor(() => wb.modelReady(), 'the status bar to show the bundled model loaded', 60_000);
    await wb.clearNotifications();
    await wb.setSetting('unmask.modelFolder', '/nonexistent/unmask-model');
    try {
      const toast = await wb.waitForNotification('unmask.modelFolder');
      const text = (await toast.textContent()) ?? '';
      assert.match(text, /\/nonexistent\/unmask-model does not exist/);
      assert.match(text, /Still using/);
      await wb.openFile('main.py');
      await typeOnNewLine('y = ', 'a completion from the model still loaded');
    } finally {
      // Back to the bundled model, so the tests after this one are unaffected; the change reloads it.
      const loads = () => unmaskLog().match(/model: ready, \S+ \(/g)?.length ?? 0;
      const before = loads();
      await wb.setSetting('unmask.modelFolder', undefined);
      await waitFor(async () => loads() > before, 'the bundled model to be loaded again once the setting is removed');
    }
    await waitFor(() => wb.modelReady(), 'the status bar to show the bundled model again');
  });

  it('Copy Debug Info says it copied', async () => {
    const wb = bench();
    await wb.runCommand('Unmask: Copy Debug Info');
    await wb.waitForNotification('debug info copied');
  });

  it('Open Decoding Visualizer opens on the last completion', async () => {
    const wb = bench();
    await wb.runCommand('Unmask: Open Decoding Visualizer');
    await wb.page.locator('.tab', { hasText: 'Unmask: Decoding' }).first().waitFor({ timeout: 30_000 });
    await wb.page.frameLocator('iframe.webview').frameLocator('iframe#active-frame').locator('body *').first().waitFor({ timeout: 30_000 });
    await wb.screenshot('visualizer.png', 'docs');
  });

  it('shows no error notification from Unmask beyond the one provoked above', async () => {
    const errors = (await bench().notifications()).filter(
      (n) => n.severity === 'error' && /unmask/i.test(n.text) && !n.text.includes('/nonexistent/unmask-model'),
    );
    assert.deepEqual(errors, []);
  });
});
