// Inline completions from the bundled model in a real editor. The model is small and may be barely
// trained, so these tests check behaviour, not quality: ghost text appears, it is exactly what the extension got
// from the model server (the UNMASK_TRACE_LOG line), Tab inserts exactly it, typing on never leaves it stale.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_GATE } from '../../src/engine/gate';
import { bench, traceAtCursor, traces } from './hooks';
import { waitFor, waitForText } from './workbench';

/** Prompts typed on a new line at the end of each fixture; the model may complete some with nothing. */
const prompts: Record<string, string[]> = {
  'main.py': [
    'def square(x):\n    return x * ',
    'for name in ',
    'def is_even(n):\n    return n % ',
    'print(',
    'words = text.',
    'import ',
    'result = count_words(',
    'if x is ',
  ],
  'util.ts': [
    'export function double(n: number): number {\n  return n * ',
    'const total = add(',
    'const counter = new ',
    'console.log(',
    'export function square(x: number): number {\n  return ',
    'let name = ',
  ],
};

/** Moves to the end of the file and starts a fresh line. */
async function newLineAtEnd(): Promise<void> {
  const { page } = bench();
  await page.keyboard.press('Control+End');
  await page.keyboard.press('Enter');
  await page.keyboard.press('Enter');
}

/** What ghost text shows of a suggestion: its first line. */
const firstLine = (s: string) => s.split('\n')[0];

/**
 * Types prompts until the model offers a suggestion whose first line is not empty, and waits until the editor
 * shows it as ghost text. Returns the prompt and the suggestion.
 */
async function typeUntilGhostText(file: string): Promise<{ prompt: string; suggestion: string; latencyMs: number }> {
  const wb = bench();
  await wb.openFile(file);
  const tried: string[] = [];
  for (const prompt of prompts[file]) {
    await newLineAtEnd();
    const before = traces().length;
    await wb.type(prompt);
    const lastKey = Date.now();
    let shownAt = 0;
    await waitFor(
      async () => {
        if (await wb.ghostText()) return (shownAt = Date.now()) > 0;
        const all = traces();
        return all.length > before && !firstLine(all[all.length - 1].suggestion).trim();
      },
      'ghost text or an empty completion',
      30_000,
      25,
    );
    const trace = await traceAtCursor(before);
    tried.push(`${JSON.stringify(prompt)} → ${JSON.stringify(trace.suggestion)}`);
    if (!firstLine(trace.suggestion).trim()) continue;
    await waitFor(
      async () => (await wb.ghostText()) === firstLine(trace.suggestion),
      `ghost text ${JSON.stringify(firstLine(trace.suggestion))} (shown: ${JSON.stringify(await wb.ghostText())})`,
      15_000,
    );
    return { prompt, suggestion: trace.suggestion, latencyMs: shownAt - lastKey };
  }
  throw new Error(`the model offered no visible completion for any prompt in ${file}:\n${tried.join('\n')}`);
}

function fileText(name: string): string {
  return fs.readFileSync(path.join(bench().server.workspace, name), 'utf8');
}

describe('inline completions from the bundled model', () => {
  it("typing in a Python file shows the model's completion as ghost text", async () => {
    const { suggestion } = await typeUntilGhostText('main.py');
    assert.ok(suggestion.trim().length > 0);
    await bench().screenshot('ghost-text.png', 'docs');
  });

  it('Tab inserts exactly the ghost text', async () => {
    const wb = bench();
    const { prompt, suggestion } = await typeUntilGhostText('main.py');
    await wb.page.keyboard.press('Tab');
    await waitFor(async () => (await wb.ghostText()) === '', 'the ghost text to be accepted');
    await wb.save();
    const text = fileText('main.py');
    const expected = prompt + suggestion;
    assert.ok(text.endsWith(expected), `main.py should end with ${JSON.stringify(expected)}; ends with ${JSON.stringify(text.slice(-expected.length - 20))}`);
  });

  it("typing in a TypeScript file shows the model's completion as ghost text", async () => {
    const { suggestion } = await typeUntilGhostText('util.ts');
    assert.ok(suggestion.trim().length > 0);
  });

  it('typing on supersedes the suggestion: the ghost text is never stale', async () => {
    const wb = bench();
    const { suggestion } = await typeUntilGhostText('main.py');
    const before = traces().length;
    // A character that does not continue the suggestion makes it invalid.
    const typed = suggestion.startsWith('Z') ? 'Q' : 'Z';
    await wb.type(typed);
    const latest = await traceAtCursor(before);
    await waitFor(
      async () => (await wb.ghostText()) === firstLine(latest.suggestion),
      `the ghost text to be the newest completion ${JSON.stringify(firstLine(latest.suggestion))}`,
      15_000,
    );
    await wb.page.keyboard.press('Escape');
  });

  it("the status bar shows the last completion's latency against its plan, forwards and tokens per forward", async () => {
    const wb = bench();
    const all = traces();
    const last = all[all.length - 1];
    // wait for this completion's own latency and forwards: an earlier completion may have had the same forwards
    const latency = `${Math.round(last.latencyMs)} ms`;
    const text = await waitForText(
      () => wb.statusText(),
      (t) => t.includes(`${last.stats.forwards} fwd`) && t.includes(latency),
      30_000,
    );
    // the editor's budget is 'auto', so every request is planned (src/engine/plan.ts) and the plan is shown beside the cost
    assert.match(text, /\d+ ms \(planned \d+ ms(, context cut to \d+ tokens)?\) · \d+ fwd · \d+\.\d tok\/fwd/);
    assert.ok(text.includes(latency), `status bar "${text}" lacks the latency ${latency}`);
    assert.ok(text.includes(`${last.stats.forwards} fwd`), `status bar "${text}" lacks "${last.stats.forwards} fwd"`);
  });

  it('the toggle turns completions off and on', async () => {
    const wb = bench();
    await wb.runCommand('Unmask: Toggle Inline Completions');
    await waitFor(async () => /\boff\b/.test(await wb.statusText()), 'the status bar to say "off"');
    await wb.openFile('main.py');
    await newLineAtEnd();
    const before = traces().length;
    await wb.type('def cube(x):\n    return x * ');
    await new Promise((r) => setTimeout(r, 3000)); // long enough for a completion had Unmask been on
    assert.equal(traces().length, before, 'no completion is requested while off');
    assert.equal(await wb.ghostText(), '');
    await wb.runCommand('Unmask: Toggle Inline Completions');
    await waitFor(async () => !/\boff\b/.test(await wb.statusText()), 'the status bar to be on again');
    await wb.openFile('main.py');
    await wb.type(' ');
    await traceAtCursor(before);
  });

  it('at the end of a line, the default gate shows nothing or a completion that cleared it, within the time budget', async () => {
    const wb = bench();
    const budgetMs = 150;
    await waitFor(() => wb.modelReady(), 'the status bar to show the model loaded', 60_000);
    await wb.setSetting('unmask.minConfidence', DEFAULT_GATE.minConfidence, 'workspace'); // over the suite's 0
    await wb.setSetting('unmask.timeBudgetMs', budgetMs, 'workspace');
    try {
      await wb.openFile('main.py');
      const seen: string[] = [];
      let judged = 0;
      // settings reach the extension through a file watcher: a completion made before they did is not judged
      for (const prompt of ['values = ', 'def parse(line):', 'total = 0', 'name = ', 'items = [', 'count = ']) {
        if (judged >= 3) break;
        await newLineAtEnd();
        const before = traces().length;
        await wb.type(prompt);
        const trace = await traceAtCursor(before);
        seen.push(
          `${JSON.stringify(prompt)}: confidence ${trace.confidence}, ${trace.stats.forwards} forwards, stopped by ${trace.stoppedBy}` +
            ` (gate ${trace.minConfidence}, budget ${trace.timeBudgetMs} ms)`,
        );
        if (trace.minConfidence !== DEFAULT_GATE.minConfidence || trace.timeBudgetMs !== budgetMs) {
          await wb.page.keyboard.press('Escape');
          continue;
        }
        judged++;
        const cleared = trace.confidence >= DEFAULT_GATE.minConfidence;
        assert.equal(trace.suggestion, cleared ? trace.text : '', `gate ${DEFAULT_GATE.minConfidence}: ${seen.at(-1)}`);
        // the budget is checked before every forward after the first: no step starts after it ran out
        assert.ok(trace.stats.forwards === 1 || trace.lastStepAt < budgetMs, `a step started at ${trace.lastStepAt} ms, after the ${budgetMs} ms budget`);
        await waitFor(
          async () => (await wb.ghostText()) === firstLine(trace.suggestion),
          `ghost text ${JSON.stringify(firstLine(trace.suggestion))} (shown: ${JSON.stringify(await wb.ghostText())})`,
          15_000,
        );
        await wb.page.keyboard.press('Escape');
      }
      assert.ok(judged > 0, `no completion was made with the default gate and the ${budgetMs} ms budget: ${seen.join('; ')}`);
      console.log(`      the gate at the end of a line: ${seen.join('; ')}`);
    } finally {
      await wb.setSetting('unmask.minConfidence', undefined, 'workspace');
      await wb.setSetting('unmask.timeBudgetMs', undefined, 'workspace');
    }
  });

  // 5 completions, not 10 (issue 31: ~30 s of the suite): still a median, over at least 5
  it('measures the latency from the last keystroke to ghost text (median of 5 completions)', async function () {
    this.timeout(400_000);
    const wanted = 5;
    const samples: number[] = [];
    for (let round = 0; samples.length < wanted && round < 10; round++) {
      for (const file of Object.keys(prompts)) {
        if (samples.length >= wanted) break;
        try {
          samples.push((await typeUntilGhostText(file)).latencyMs);
        } catch {
          /* no visible completion for this file this round */
        }
        await bench().page.keyboard.press('Escape');
      }
    }
    assert.ok(samples.length >= wanted, `only ${samples.length} of ${wanted} completions became ghost text`);
    const sorted = [...samples].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    const out = path.join(__dirname, '..', '..', '.test-output');
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, 'latency.json'), JSON.stringify({ samples, medianMs: median }, null, 2));
    console.log(`      keystroke → ghost text: median ${median} ms over ${samples.length} completions (${sorted.join(', ')} ms)`);
  });
});
