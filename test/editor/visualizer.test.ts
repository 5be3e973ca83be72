// In the real editor: after a completion, "Unmask: Open Decoding Visualizer" opens the panel on that
// completion's tokens, and the panel follows the next completion.
import * as assert from 'node:assert/strict';
import type { FrameLocator } from 'playwright-core';
import { bench, traceAtCursor, traces, typeOnNewLine, type TraceLine } from './hooks';
import { waitFor, waitForText } from './workbench';

/** Types a prompt on a fresh line at the end of the open file and returns the completion the extension logged for it. */
async function complete(prompt: string): Promise<TraceLine> {
  // the first completion of a session waits for the extension host and the model server to start
  await typeOnNewLine(prompt, 'the extension to log a completion', 90_000);
  // Typing may produce one completion per pause; the last, the one for the cursor, is the panel's.
  return traceAtCursor(traces().length - 1, 15_000, 700);
}

/** The visualizer's document inside the webview's two iframes. */
function panel(): FrameLocator {
  return bench().page.frameLocator('iframe.webview').first().frameLocator('iframe#active-frame');
}

async function shownText(frame: FrameLocator): Promise<string> {
  return frame.locator('#code .tok .t').evaluateAll((els) => els.map((e) => e.textContent).join(''));
}

describe('visualizer: the decoding panel in the editor', () => {
  it('opens on the last completion and shows its tokens', async () => {
    const wb = bench();
    await wb.openFile('main.py');
    const last = await complete('for name in ');
    await wb.runCommand('Unmask: Open Decoding Visualizer');
    const frame = panel();
    await frame.locator('#code .tok').first().waitFor({ timeout: 30_000 });
    await waitFor(
      async () => (await shownText(frame)) === last.text,
      `the panel to show ${JSON.stringify(last.text)} (shows ${JSON.stringify(await shownText(frame).catch(() => '?'))})`,
      15_000,
    );
    const summary = new RegExp(`${last.stats.forwards} forwards`);
    const shown = await waitForText(
      () => frame.locator('.summary').innerText(),
      (t) => summary.test(t),
    );
    assert.match(shown, summary);
    await wb.screenshot('visualizer-editor.png', 'docs');
  });

  it('follows the next completion', async () => {
    const wb = bench();
    await wb.openFile('main.py');
    const next = await complete('total = ');
    const frame = panel();
    await waitFor(
      async () => (await shownText(frame)) === next.text,
      `the panel to follow to ${JSON.stringify(next.text)} (shows ${JSON.stringify(await shownText(frame).catch(() => '?'))})`,
      15_000,
    );
  });
});
