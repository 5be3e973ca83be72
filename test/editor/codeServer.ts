// Starts a throw-away code-server (VS Code in the browser) with the Unmask VSIX installed and a copy of the
// fixture workspace, on 127.0.0.1 at a free port. Tools come from scripts/provision-editor-tools.sh (.tools/env.sh).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const repoRoot = path.resolve(__dirname, '../..');

export interface CodeServer {
  url: string;
  /** The temporary copy of test/editor/fixtures/workspace the editor has open. */
  workspace: string;
  /** The user settings.json: tests rewrite it to change settings, as a user would. */
  userSettings: string;
  /**
   * The remote ("Machine") settings.json of the server. Settings with machine scope (unmask.modelFolder) are read
   * only from here in a remote window such as code-server's; in the user settings they are ignored.
   */
  machineSettings: string;
  /** One JSON line per completion, written by the extension (UNMASK_TRACE_LOG). */
  traceLog: string;
  /** Everything code-server printed. */
  logFile: string;
  stop(): Promise<void>;
}

export const baseUserSettings = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'security.workspace.trust.enabled': false,
  'telemetry.telemetryLevel': 'off',
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'update.mode': 'none',
  'chat.disableAIFeatures': true,
  'files.autoSave': 'off',
  'editor.inlineSuggest.enabled': true,
  // The behaviour tests need visible completions from a barely trained model: no gate. The gate's own test
  // (completions.test.ts) removes this line to run with the default.
  'unmask.minConfidence': 0,
  // Keep the IntelliSense widget out of the way, so Tab accepts the inline suggestion.
  'editor.quickSuggestions': { other: false, comments: false, strings: false },
  'editor.suggestOnTriggerCharacters': false,
  'editor.wordBasedSuggestions': 'off',
  'editor.autoClosingBrackets': 'never',
  'editor.autoClosingQuotes': 'never',
  'editor.autoIndent': 'none',
  'editor.acceptSuggestionOnEnter': 'off',
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'unmask.logLevel': 'debug',
};

function tool(name: 'UNMASK_NODE24' | 'UNMASK_CODE_SERVER'): string {
  const value = process.env[name];
  if (!value || !fs.existsSync(value)) {
    throw new Error(`${name} is not set or missing (${value}); run scripts/provision-editor-tools.sh and source .tools/env.sh`);
  }
  return value;
}

/** Seconds from `from` to `to` (now), with one decimal. */
export function secondsSince(from: number, to = Date.now()): string {
  return ((to - from) / 1000).toFixed(1);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function startCodeServer(vsix: string): Promise<CodeServer> {
  const node = tool('UNMASK_NODE24');
  const entry = fs.realpathSync(tool('UNMASK_CODE_SERVER'));
  const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-editor-'));
  const dirs = Object.fromEntries(['config', 'data', 'user-data', 'extensions', 'workspace'].map((d) => [d, path.join(temp, d)]));
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  fs.cpSync(path.join(__dirname, 'fixtures', 'workspace'), dirs.workspace, { recursive: true });
  const userSettings = path.join(dirs['user-data'], 'User', 'settings.json');
  fs.mkdirSync(path.dirname(userSettings), { recursive: true });
  fs.writeFileSync(userSettings, JSON.stringify(baseUserSettings, null, 2));
  const machineSettings = path.join(dirs['user-data'], 'Machine', 'settings.json');
  fs.mkdirSync(path.dirname(machineSettings), { recursive: true });
  fs.writeFileSync(machineSettings, '{}\n'); // present from the start, so VS Code watches it
  const traceLog = path.join(temp, 'traces.jsonl');
  const logFile = path.join(temp, 'code-server.log');
  const env = {
    ...process.env,
    XDG_CONFIG_HOME: dirs.config,
    XDG_DATA_HOME: dirs.data,
    HOME: temp,
    UNMASK_TRACE_LOG: traceLog,
  };
  const common = ['--user-data-dir', dirs['user-data'], '--extensions-dir', dirs.extensions];

  const t0 = Date.now();
  // asynchronous, so that Chromium starts meanwhile (the root hook launches it beside this)
  const install = await new Promise<{ status: number | string | null; stdout: string; stderr: string }>((resolve) =>
    execFile(node, [entry, ...common, '--install-extension', vsix], { env, encoding: 'utf8', timeout: 120_000, maxBuffer: 16 << 20 }, (error, stdout, stderr) =>
      resolve({ status: error ? (error.code ?? error.signal ?? 1) : 0, stdout, stderr }),
    ),
  );
  if (install.status !== 0 || !/successfully installed/i.test(install.stdout + install.stderr)) {
    throw new Error(`code-server --install-extension ${vsix} failed (${install.status}):\n${install.stdout}\n${install.stderr}`);
  }

  const installedAt = Date.now();
  const port = await freePort();
  const log = fs.openSync(logFile, 'a');
  const child: ChildProcess = spawn(
    node,
    [
      entry,
      ...common,
      '--bind-addr',
      `127.0.0.1:${port}`,
      '--auth',
      'none',
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      '--ignore-last-opened',
      dirs.workspace,
    ],
    { env, stdio: ['ignore', log, log], detached: true },
  );
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });

  const url = `http://127.0.0.1:${port}/`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`code-server exited early; log:\n${fs.readFileSync(logFile, 'utf8')}`);
    try {
      if ((await fetch(`${url}healthz`)).ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`code-server did not answer on ${url} within 60 s; log: ${logFile}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  console.log(`  start-up: VSIX installed in ${secondsSince(t0, installedAt)} s, code-server answered after ${secondsSince(installedAt)} s more`);

  return {
    url: `${url}?folder=${encodeURIComponent(dirs.workspace)}`,
    workspace: dirs.workspace,
    userSettings,
    machineSettings,
    traceLog,
    logFile,
    async stop() {
      if (!exited && child.pid) {
        process.kill(-child.pid, 'SIGTERM'); // its own process group: code-server and its extension host
        await new Promise((r) => {
          child.once('exit', r);
          setTimeout(r, 5000);
        });
        if (!exited)
          try {
            process.kill(-child.pid, 'SIGKILL');
          } catch {
            /* gone */
          }
      }
      fs.closeSync(log);
      if (!process.env.UNMASK_KEEP_EDITOR_TEMP) fs.rmSync(temp, { recursive: true, force: true });
    },
  };
}
