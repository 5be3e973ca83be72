// Mocha root hooks: one code-server with the packaged extension and one Chromium for the whole editor suite.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot, startCodeServer, type CodeServer } from './codeServer';
import { waitFor, Workbench } from './workbench';

let server: CodeServer | undefined;
let workbench: Workbench | undefined;
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
    server = await startCodeServer(vsix);
    browserProfile = fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-chromium-'));
    workbench = await Workbench.open(server, browserProfile);
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
    await workbench?.close().catch(() => undefined);
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
