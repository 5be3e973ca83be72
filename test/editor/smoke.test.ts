// The smoke test: the packaged extension activates in a real VS Code (code-server in Chromium), a command
// run from the command palette shows its effect, and Unmask raises no error notification.
import * as assert from 'node:assert/strict';
import { bench } from './hooks';
import { waitFor } from './workbench';

describe('smoke: the packaged extension in code-server', () => {
  it('activates and shows its status bar item', async () => {
    const wb = bench();
    await wb.statusItem.waitFor({ state: 'visible', timeout: 60_000 });
    assert.match(await wb.statusText(), /Unmask/);
  });

  it('lists its commands in the command palette', async () => {
    const wb = bench();
    await wb.page.keyboard.press('F1');
    const input = wb.page.locator('.quick-input-widget input.input');
    await input.waitFor({ state: 'visible' });
    await input.fill('>Unmask:');
    const rows = wb.page.locator('.quick-input-widget .monaco-list-row', { hasText: 'Unmask:' });
    await rows.first().waitFor();
    const titles = (await rows.allTextContents()).join('\n');
    for (const title of ['Trigger Completion', 'Toggle Inline Completions', 'Choose Decoding Policy', 'Copy Debug Info']) {
      assert.ok(titles.includes(title), `palette lacks "Unmask: ${title}":\n${titles}`);
    }
    await wb.screenshot('command-palette.png', 'docs');
    await wb.page.keyboard.press('Escape');
  });

  it('Toggle Inline Completions from the palette turns the status bar item off and on', async () => {
    const wb = bench();
    assert.doesNotMatch(await wb.statusText(), /\boff\b/);
    await wb.runCommand('Unmask: Toggle Inline Completions');
    await waitFor(async () => /\boff\b/.test(await wb.statusText()), 'the status bar to say "off"');
    await wb.runCommand('Unmask: Toggle Inline Completions');
    await waitFor(async () => !/\boff\b/.test(await wb.statusText()), 'the status bar to be on again');
  });

  it('shows no error notification from Unmask', async () => {
    const errors = (await bench().notifications()).filter((n) => n.severity === 'error' && /unmask/i.test(n.text));
    assert.deepEqual(errors, []);
  });
});
