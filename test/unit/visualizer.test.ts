// The visualizer in a real browser (Chromium via playwright-core): the standalone page built from
// real traces of the bundled model. Set UNMASK_SCREENSHOTS=1 to also write docs/visualizer-{light,dark}.png.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { decode } from '../../src/engine';
import { defaultModelDir, loadModel } from '../../src/model';
import type { PolicySpec, Trace } from '../../src/protocol';
import type { HistoryEntry, HostMessage, WebviewMessage } from '../../src/shared/visualizerMessages';
import { makeNonce, visualizerDocument } from '../../src/visualizer/html';
import { renderStandaloneHtml } from '../../src/visualizer/standalone';
import { chromiumFlags } from '../editor/workbench';

const root = resolve(__dirname, '..', '..');

// An infill from a small Python file: the body of a loop between its header and what follows.
const PREFIX = `import sys


def count_words(path):
    """Return how many words the file at path holds."""
    total = 0
    with open(path) as f:
        for line in f:
            `;
const SUFFIX = `
    return total


if __name__ == "__main__":
    print(count_words(sys.argv[1]))
`;

// Callbacks evaluated in the page; this tsconfig has no DOM lib, so the few page globals used are declared here.
type WithDataset = { dataset: Record<string, string | undefined> };
declare const document: { activeElement: WithDataset | null };
declare const window: { postMessage(m: unknown, origin: string): void; unmaskPosted: WebviewMessage[] };
declare function getComputedStyle(el: unknown): { borderBottomColor: string };

const isPadText = (text: string) => /^<\|(pad|eos)\|>$/.test(text);

function isSubsequence(text: string, of: string): boolean {
  let j = 0;
  for (const ch of of) if (ch === text[j]) j++;
  return j === text.length;
}

/** The step (1-based) at which each slot was unmasked, read straight from the trace. */
function stepOfSlot(trace: Trace): Map<number, number> {
  const m = new Map<number, number>();
  trace.steps.forEach((s, i) => s.unmasked.forEach((u) => m.set(u.slot, i + 1)));
  return m;
}

/** `rgb(…)`, `rgba(…)` or `color(srgb …)` as 0–255 channels. */
function parseColour(css: string): [number, number, number] {
  const srgb = /color\(srgb ([\d.e-]+) ([\d.e-]+) ([\d.e-]+)/.exec(css);
  if (srgb) return [1, 2, 3].map((i) => Number(srgb[i]) * 255) as [number, number, number];
  const rgb = /rgba?\(([\d.]+),? ([\d.]+),? ([\d.]+)/.exec(css);
  if (rgb) return [1, 2, 3].map((i) => Number(rgb[i])) as [number, number, number];
  throw new Error(`cannot parse colour ${css}`);
}

interface TokenInfo {
  slot: number;
  kind: string;
  step: number | null;
  p: number | null;
  colour: string;
}

async function tokens(page: Page, within = '#code'): Promise<TokenInfo[]> {
  return page.$$eval(`${within} .tok`, (els) =>
    els.map((el) => {
      const e = el as unknown as WithDataset;
      return {
        slot: Number(e.dataset.slot),
        kind: e.dataset.kind ?? '',
        step: e.dataset.step ? Number(e.dataset.step) : null,
        p: e.dataset.p ? Number(e.dataset.p) : null,
        colour: getComputedStyle(e).borderBottomColor,
      };
    }),
  );
}

/** The text the page shows as the completion: the kept text of its real tokens. */
async function shownText(page: Page, within = '#code'): Promise<string> {
  return page.$$eval(`${within} .tok .t`, (els) => els.map((e) => e.textContent).join(''));
}

describe('visualizer in Chromium (the standalone page; the webview with a stand-in host)', function () {
  this.timeout(120_000);
  let traces: Trace[];
  let context: BrowserContext;
  let page: Page;
  let profile: string;

  /** Opens the page as a file, as a user would (each document keeps its own CSP nonce). */
  async function open(shown: Trace | Trace[]): Promise<void> {
    const file = join(profile, `page-${Math.random().toString(36).slice(2)}.html`);
    writeFileSync(file, renderStandaloneHtml(shown));
    await page.goto(`file://${file}`);
    await page.locator('#code .tok').first().waitFor();
  }

  before(async () => {
    execFileSync(process.execPath, ['esbuild.js'], { cwd: root, stdio: 'pipe' });
    const model = await loadModel(defaultModelDir(root), { threads: 1 });
    try {
      const policies: PolicySpec[] = [{ name: 'threshold', tau: 0.9 }, { name: 'sequential' }, { name: 'fixed', k: 3 }];
      traces = [];
      for (const policy of policies) {
        traces.push(await decode(model, { prefix: PREFIX, suffix: SUFFIX, slots: 24, singleLine: false, policy, eotp: true }));
      }
    } finally {
      await model.dispose();
    }
    profile = mkdtempSync(join(tmpdir(), 'unmask-visualizer-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      args: chromiumFlags,
      viewport: { width: 1100, height: 800 },
    });
  });

  after(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  beforeEach(async () => {
    page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await open(traces[0]);
    assert.deepEqual(errors, [], 'the page logged errors');
  });

  afterEach(async () => page?.close());

  it("shows the completion's tokens in place, between the prefix and the suffix", async () => {
    const trace = traces[0];
    assert.ok(
      trace.steps.some((s) => s.unmasked.some((u) => !isPadText(u.text))),
      'the model filled no slot with a real token',
    );
    assert.equal(await shownText(page), trace.result.text);
    const shown = await tokens(page);
    assert.equal(shown.length, trace.slots, 'one element per slot');
    const pads = trace.steps
      .flatMap((s) => s.unmasked)
      .filter((u) => isPadText(u.text))
      .map((u) => u.slot)
      .sort((a, b) => a - b);
    assert.deepEqual(
      shown.filter((t) => t.kind === 'pad').map((t) => t.slot),
      pads,
      'pads are drawn as pads',
    );
    const prefix = await page.locator('#code .context.prefix').textContent();
    const suffix = await page.locator('#code .context.suffix').textContent();
    assert.ok(prefix!.endsWith(trace.prefixText.split('\n').slice(-3).join('\n')), `prefix context: ${prefix}`);
    assert.ok(suffix!.startsWith(trace.suffixText.split('\n').slice(0, 3).join('\n')), `suffix context: ${suffix}`);
  });

  it('colours tokens by the step that unmasked them, then by their probability', async () => {
    const trace = traces[0];
    const steps = stepOfSlot(trace);
    const order = (await tokens(page)).filter((t) => t.kind === 'token' || t.kind === 'pad' || t.kind === 'cut');
    for (const t of order) assert.equal(t.step, steps.get(t.slot), `slot ${t.slot}'s step`);
    const colourOfStep = new Map<number, string>();
    for (const t of order) {
      const seen = colourOfStep.get(t.step!);
      if (seen) assert.equal(t.colour, seen, `slots of step ${t.step} share a colour`);
      colourOfStep.set(t.step!, t.colour);
    }
    const distinct = new Set(colourOfStep.values());
    assert.equal(distinct.size, colourOfStep.size, 'each step has its own colour');

    await page.getByRole('radio', { name: 'Confidence' }).click();
    const conf = (await tokens(page)).filter((t) => t.kind === 'token' || t.kind === 'pad' || t.kind === 'cut');
    const pOfSlot = new Map(trace.steps.flatMap((s) => s.unmasked).map((u) => [u.slot, u.p]));
    for (const t of conf) assert.ok(Math.abs(t.p! - pOfSlot.get(t.slot)!) < 1e-4, `slot ${t.slot}'s p`);
    if (conf.length > 1)
      assert.ok(
        conf.some((t, i) => t.colour !== order[i].colour),
        'switching colourings changes the colours',
      );
    // The confidence scale runs red → yellow → green: green minus red never falls as p rises.
    const byP = [...conf].sort((a, b) => a.p! - b.p!);
    for (let i = 1; i < byP.length; i++) {
      const [r0, g0] = parseColour(byP[i - 1].colour);
      const [r1, g1] = parseColour(byP[i].colour);
      assert.ok(g1 - r1 >= g0 - r0 - 1, `p ${byP[i - 1].p} → ${byP[i].p}: ${byP[i - 1].colour} → ${byP[i].colour}`);
      if (byP[i].p === byP[i - 1].p) assert.equal(byP[i].colour, byP[i - 1].colour);
    }
  });

  it("replays: at step k the canvas holds exactly the tokens unmasked by step k, step k's highlighted", async () => {
    const trace = traces[0];
    const slider = page.locator('#step');
    await slider.focus();
    await page.keyboard.press('Home');
    for (let k = 0; k <= trace.steps.length; k++) {
      if (k > 0) await page.keyboard.press('ArrowRight');
      assert.equal(await slider.inputValue(), String(k));
      const expected = trace.steps
        .slice(0, k)
        .flatMap((s) => s.unmasked.map((u) => u.slot))
        .sort((a, b) => a - b);
      const shown = await tokens(page);
      assert.deepEqual(
        shown.filter((t) => t.kind !== 'masked').map((t) => t.slot),
        expected,
        `filled slots after step ${k}`,
      );
      assert.equal(shown.filter((t) => t.kind === 'masked').length, trace.slots - expected.length);
      const fresh = await page.$$eval('#code .tok.fresh', (els) => els.map((e) => Number((e as unknown as WithDataset).dataset.slot)).sort((a, b) => a - b));
      assert.deepEqual(fresh, k ? trace.steps[k - 1].unmasked.map((u) => u.slot).sort((a, b) => a - b) : []);
    }
  });

  it("lists a hovered token's alternatives with their probabilities, and its confidence history", async () => {
    const trace = traces[0];
    const unmasked = trace.steps.flatMap((s, i) => s.unmasked.map((u) => ({ ...u, step: i + 1 })));
    const u = unmasked.find((x) => !isPadText(x.text) && x.step > 1) ?? unmasked.find((x) => !isPadText(x.text))!;
    await page.locator(`#code .tok[data-slot="${u.slot}"]`).hover();
    const details = page.locator('#details');
    await details.locator('.alts').waitFor();
    const rows = await details.locator('.alts tbody tr').allInnerTexts();
    assert.equal(rows.length, u.alternatives.length);
    u.alternativeTexts.forEach((text, i) => {
      const shownText = JSON.stringify(text).slice(1, -1).replace(/ /g, '␣');
      assert.ok(rows[i].includes(shownText), `row ${i} "${rows[i]}" names ${shownText}`);
      assert.match(rows[i], /%/);
    });
    assert.match(await details.locator('.d-meta').innerText(), new RegExp(`step ${u.step} of ${trace.steps.length}`));
    // One point per step it was pending, plus the unmasking.
    const pending = trace.steps.slice(0, u.step - 1).filter((s) => s.pending.some((e) => e[0] === u.slot)).length;
    assert.equal(await details.locator('.conf-chart circle').count(), pending + 1);
  });

  it('moves between tokens with the arrow keys', async () => {
    await page.locator('#code .tok[data-slot="0"]').focus();
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.slot), '1');
    assert.match(await page.locator('#details .d-meta').innerText(), /^slot 2 of/);
  });

  it('compares policies side by side, marking where texts differ from the reference', async () => {
    const shown = [traces[1], traces[0], traces[2]];
    await open(shown);
    const columns = page.locator('#compare .compare-col');
    await columns.first().waitFor();
    assert.equal(await columns.count(), shown.length);
    for (let i = 0; i < shown.length; i++) {
      const col = columns.nth(i);
      assert.equal(await col.getAttribute('data-policy'), shown[i].policy.name);
      assert.equal(await col.locator('.tok .t').evaluateAll((els) => els.map((e) => e.textContent).join('')), shown[i].result.text);
      assert.match(await col.innerText(), new RegExp(`${shown[i].stats.forwards} forwards`));
      const same = shown[i].result.text === shown[0].result.text;
      if (i > 0) assert.equal(await col.locator('.same').count(), same ? 1 : 0, `column ${i} says whether its text is the reference's`);
      const marked = await col.locator('.t.diff').count();
      if (same) assert.equal(marked, 0, `column ${i} marks no difference`);
      else if (!isSubsequence(shown[i].result.text, shown[0].result.text)) assert.ok(marked > 0, `column ${i} marks its differences`);
    }
  });

  it("renders light and dark screenshots (into docs/ when UNMASK_SCREENSHOTS is set, else the test's own folder)", async function () {
    // Light shows the order colouring, dark the confidence one; sequential is the comparison's reference.
    const into = process.env.UNMASK_SCREENSHOTS ? join(root, 'docs') : profile;
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      await open([traces[1], traces[0], traces[2]]);
      await page.locator('#history').selectOption({ index: 1 });
      if (scheme === 'dark') await page.getByRole('radio', { name: 'Confidence' }).click();
      const real = page.locator('#code .tok[data-kind="token"]');
      await real.nth(Math.min(2, (await real.count()) - 1)).hover();
      const file = join(into, `visualizer-${scheme}.png`);
      await page.screenshot({ path: file, fullPage: true });
      // a PNG of the whole page, not an empty or failed capture
      const png = readFileSync(file);
      assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
      assert.ok(png.length > 20_000, `${file}: ${png.length} bytes`);
    }
  });

  describe("inside a webview (a stand-in for VS Code's webview API)", () => {
    /** The page as the panel serves it, with acquireVsCodeApi recording what the page posts and keeping its state across reloads. */
    async function openWebview(): Promise<void> {
      // A string, not a function: tsx would wrap a function's inner functions in helpers the page lacks.
      await page.addInitScript(`
        window.unmaskPosted = [];
        window.acquireVsCodeApi = () => ({
          postMessage: (m) => window.unmaskPosted.push(m),
          getState: () => JSON.parse(sessionStorage.getItem("state") || "null") || undefined,
          setState: (st) => sessionStorage.setItem("state", JSON.stringify(st)),
        });`);
      const nonce = makeNonce();
      const file = join(profile, 'webview.html');
      writeFileSync(
        file,
        visualizerDocument({
          csp: `default-src 'none'; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}'`,
          nonce,
          style: { inline: readFileSync(join(root, 'dist', 'media', 'visualizer.css'), 'utf8') },
          script: { inline: readFileSync(join(root, 'dist', 'media', 'visualizer.js'), 'utf8') },
        }),
      );
      await page.goto(`file://${file}`);
    }
    const posted = () => page.evaluate(() => window.unmaskPosted);
    const send = (m: HostMessage) => page.evaluate((msg) => window.postMessage(msg, '*'), m);
    const entry = (id: string, trace: Trace): HistoryEntry => ({ id, label: `main.py:${id}`, time: 0, trace });

    it('says ready first, follows new completions unless pinned, asks for comparisons, and keeps its state over a reload', async () => {
      await openWebview();
      await waitUntil(async () => (await posted()).length > 0);
      assert.deepEqual(await posted(), [{ type: 'ready' }]);

      await send({ type: 'init', entries: [entry('a', traces[0])], comparison: null, canCompare: true });
      await page.locator('#code .tok').first().waitFor();
      assert.equal(await shownText(page), traces[0].result.text);

      await send({ type: 'addEntry', entry: entry('b', traces[1]), dropIds: [] });
      await waitUntil(async () => (await page.locator('#history').inputValue()) === 'b');
      assert.equal(await shownText(page), traces[1].result.text);

      await page.locator('#pin').click();
      assert.equal(await page.locator('#pin').getAttribute('aria-pressed'), 'true');
      await send({ type: 'addEntry', entry: entry('c', traces[2]), dropIds: ['a'] });
      await waitUntil(async () => (await page.locator('#history option').count()) === 2);
      assert.equal(await page.locator('#history').inputValue(), 'b', 'pinned: the new completion only joins the history');

      await page.locator('#compare-button').click();
      const request = (await posted()).at(-1)!;
      assert.deepEqual(request, { type: 'requestCompare', requestId: (request as { requestId: number }).requestId, entryId: 'b' });
      await send({
        type: 'compareResult',
        requestId: (request as { requestId: number }).requestId,
        comparison: { id: 'c1', label: 'main.py:b', traces: [traces[1], traces[0]] },
        error: null,
      });
      await page.locator('#compare .compare-col').nth(1).waitFor();

      await page.getByRole('radio', { name: 'Confidence' }).click();
      await page.reload();
      await waitUntil(async () => (await posted()).length > 0);
      assert.deepEqual(await posted(), [{ type: 'ready' }], 'a reloaded webview says ready again and waits');
      await send({ type: 'init', entries: [entry('b', traces[1]), entry('c', traces[2])], comparison: null, canCompare: true });
      await page.locator('#code .tok').first().waitFor();
      assert.equal(await page.locator('#history').inputValue(), 'b', 'still pinned to b');
      assert.equal(await page.getByRole('radio', { name: 'Confidence' }).getAttribute('aria-checked'), 'true');
    });
  });
});

async function waitUntil(condition: () => Promise<boolean>, timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
