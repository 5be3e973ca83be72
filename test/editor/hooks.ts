// Mocha root hooks: one code-server with the packaged extension and one Chromium for the whole editor suite.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot, secondsSince, startCodeServer, type CodeServer } from './codeServer';
import type { BrowserContext } from 'playwright-core';
import { waitFor, Workbench } from './workbench';

let server: CodeServer | undefined;
let workbench: Workbench | undefined;
let browser: BrowserContext | undefined;
let browserProfile: string | undefined;

/** The running workbench, for the specs. */
export function bench(): Workbench {
  if (!workbench) throw new Error("the workbench is not open (see the root hook's error above)");
  return workbench;
}

export interface TraceLine {
  label: string;
  latencyMs: number;
  suggestion: string;
  policy: string;
  text: string;
  confidence: number;
  stoppedBy: string;
  lastStepAt: number;
  timeBudgetMs?: number;
  minConfidence?: number;
  stats: { forwards: number; tokens: number; tokensPerForward: number };
}

/** The completions the extension has logged so far (UNMASK_TRACE_LOG). */
export function traces(): TraceLine[] {
  const file = bench().server.traceLog;
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as TraceLine);
}

/**
 * Types `prompt` on a fresh line at the end of the open file and waits for the extension to log a
 * completion; returns the first one logged after typing.
 */
export async function typeOnNewLine(prompt: string, what = 'a completion', timeout = 30_000): Promise<TraceLine> {
  const wb = bench();
  await wb.page.keyboard.press('Control+End');
  await wb.page.keyboard.press('Enter');
  const before = traces().length;
  await wb.type(prompt);
  await waitFor(async () => traces().length > before, what, timeout);
  return traces()[before];
}

/**
 * The completion for where the cursor is, once the extension has logged one after the first `countBefore`: typing may
 * make one completion per pause, and the last is the one for the cursor. It is taken as soon as the last one logged
 * is labelled with the cursor's line and column (the status bar's); without such a match, the last one once no other
 * has come for `settleMs` (the cursor's own request may have been answered from the cache, which logs nothing).
 */
export async function traceAtCursor(countBefore: number, timeout = 30_000, settleMs = 300): Promise<TraceLine> {
  await waitFor(async () => traces().length > countBefore, 'the extension to log a completion', timeout);
  const deadline = Date.now() + timeout;
  let count = traces().length;
  let changed = Date.now();
  for (;;) {
    const all = traces();
    if (all.length !== count) [count, changed] = [all.length, Date.now()];
    const last = all[all.length - 1];
    const at = await bench().cursor();
    if (at && last.label.endsWith(`:${at.line}:${at.column}`)) return last; // labels are "main.py:24:16"
    if (Date.now() - changed >= settleMs) return last;
    if (Date.now() > deadline) throw new Error('timed out waiting for the completions to settle');
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** What the Unmask output channel has logged so far (its log file under the server's logs folder), or ''. */
export function unmaskLog(): string {
  const logs = path.join(path.dirname(bench().server.userSettings), '..', 'logs');
  if (!fs.existsSync(logs)) return '';
  return (fs.readdirSync(logs, { recursive: true }) as string[])
    .filter((f) => /Unmask\.log$/.test(f))
    .map((f) => fs.readFileSync(path.join(logs, f), 'utf8'))
    .join('');
}

export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    this.timeout(240_000);
    const vsix = process.env.UNMASK_VSIX ?? path.join(repoRoot, 'dist', `unmask-${process.platform}-${process.arch}.vsix`);
    if (!fs.existsSync(vsix)) throw new Error(`no VSIX at ${vsix}; run npm run test:editor (it packages one)`);
    browserProfile = fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-chromium-'));
    // Chromium starts while code-server installs the VSIX and starts
    const launching = Date.now();
    const launched = Workbench.launch(browserProfile).then((context) => {
      console.log(`  start-up: Chromium started in ${secondsSince(launching)} s`);
      return (browser = context);
    });
    launched.catch(() => undefined); // awaited below: its error is this hook's
    try {
      server = await startCodeServer(vsix);
    } catch (error) {
      await launched.catch(() => undefined); // so that afterAll closes it
      throw error;
    }
    const context = await launched;
    const opening = Date.now();
    workbench = await Workbench.open(server, context);
    console.log(`  start-up: the workbench opened in ${secondsSince(opening)} s`);
    // the extension activates after start-up (onStartupFinished) and only then registers its completion provider: a
    // prompt typed before that gets no request at all (the editor does not ask a provider registered later), which
    // failed the first test once typing got faster. Wait for the status bar to show the model ready, as a user sees it.
    const ready = Date.now();
    const wb = workbench;
    await waitFor(() => wb.modelReady(), 'the Unmask status bar item to show the model ready', 120_000);
    console.log(`  start-up: the model was ready ${secondsSince(ready)} s later`);
  },
  async afterEach(this: Mocha.Context) {
    const test = this.currentTest;
    if (workbench && test?.state === 'failed') {
      const name = test
        .fullTitle()
        .replace(/[^a-z0-9]+/gi, '-')
        .slice(0, 80);
      await workbench.screenshot(`failed-${name}.png`).catch(() => undefined);
    }
  },
  async afterAll() {
    if (server) {
      const out = path.join(repoRoot, '.test-output');
      fs.mkdirSync(out, { recursive: true });
      for (const file of [server.logFile, server.traceLog]) {
        if (fs.existsSync(file)) fs.copyFileSync(file, path.join(out, path.basename(file)));
      }
      await collectExtensionHostLog(server, out);
    }
    await (workbench?.close() ?? browser?.close())?.catch(() => undefined);
    await server?.stop();
    if (browserProfile) fs.rmSync(browserProfile, { recursive: true, force: true });
  },
};

/** Copies the extension host's and the Unmask output channel's logs, which say why a test saw no completion. */
async function collectExtensionHostLog(s: CodeServer, out: string): Promise<void> {
  const logs = path.join(path.dirname(s.userSettings), '..', 'logs');
  if (!fs.existsSync(logs)) return;
  for (const file of fs.readdirSync(logs, { recursive: true }) as string[]) {
    if (/exthost\.log$|Unmask\.log$/.test(file)) fs.copyFileSync(path.join(logs, file), path.join(out, path.basename(file)));
  }
}
