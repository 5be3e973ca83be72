// Shared by the fault suite: the real server (dist/server.js, the bundle the extension forks, built once per run by
// test/unit/setup.ts), the real
// bundled model, and copies of its folder made hostile.
import { fork, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createMessageConnection, IPCMessageReader, IPCMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';
import { ModelClient, type ModelClientOptions } from '../../../src/client/modelClient';
import type { CompleteRequest } from '../../../src/protocol';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const MODEL_DIR = path.join(ROOT, 'models', 'default');
export const SERVER = path.join(ROOT, 'dist', 'server.js');
/** `npm run complete` at examples/fibonacci.py 9:20 with `args` added, in a child process, as a user runs it. */
export function cliAtFibonacci(args: string[], timeout: number): SpawnSyncReturns<string> {
  const at = ['--file', path.join(ROOT, 'examples', 'fibonacci.py'), '--line', '9', '--col', '20'];
  return spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src', 'cli', 'complete.ts'), ...at, ...args], { encoding: 'utf8', timeout });
}

export const LOAD = { modelDir: MODEL_DIR, executionProvider: 'cpu' as const, threads: 1 };

export const request = (over: Partial<CompleteRequest> = {}): CompleteRequest => ({
  prefix: 'def fibonacci(n):\n    if n < 2:\n        return n\n    return ',
  suffix: '\n\n\nprint(fibonacci(10))\n',
  slots: 16,
  singleLine: true,
  policy: { name: 'threshold', tau: 0.9 },
  eotp: true,
  ...over,
});
/** A decode of exactly `slots` forwards: one slot per step, no end-of-text shortcut, no line-end stop. */
export const slow = (slots = 24) => request({ slots, singleLine: false, policy: { name: 'sequential' }, eotp: false });

export function newClient(over: Partial<ModelClientOptions> = {}, logs: string[] = []): ModelClient {
  return new ModelClient({
    serverModule: SERVER,
    restartDelaysMs: [50, 50, 50],
    log: (level, msg) => logs.push(`${level}: ${msg}`),
    ...over,
  });
}

/** The server without ModelClient: what any client could send it. */
export function rawServer(): { child: ChildProcess; connection: MessageConnection; dispose(): void } {
  const child = fork(SERVER, [], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
  const connection = createMessageConnection(new IPCMessageReader(child), new IPCMessageWriter(child));
  connection.listen();
  return {
    child,
    connection,
    dispose: () => {
      connection.dispose();
      child.kill('SIGKILL');
    },
  };
}

/** A copy of the bundled model folder (graph and tokenizer linked), changed by `edit`; removed by the returned cleanup. */
export function hostileCopy(edit: (dir: string) => void): { dir: string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-fault-'));
  fs.symlinkSync(path.join(MODEL_DIR, 'model.onnx'), path.join(dir, 'model.onnx'));
  fs.symlinkSync(path.join(MODEL_DIR, 'model.onnx.data'), path.join(dir, 'model.onnx.data')); // the graph's weights
  fs.symlinkSync(path.join(MODEL_DIR, 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
  // the learned filter graph (files.filter), when the bundled model has one
  if (fs.existsSync(path.join(MODEL_DIR, 'filter.onnx'))) fs.symlinkSync(path.join(MODEL_DIR, 'filter.onnx'), path.join(dir, 'filter.onnx'));
  fs.copyFileSync(path.join(MODEL_DIR, 'unmask.json'), path.join(dir, 'unmask.json'));
  edit(dir);
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export const editManifest = (change: (m: Record<string, any>) => void) => (dir: string) => {
  const file = path.join(dir, 'unmask.json');
  const m = JSON.parse(fs.readFileSync(file, 'utf8'));
  change(m);
  fs.writeFileSync(file, JSON.stringify(m));
};

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Settles `p` and says how it went, for tests that expect a rejection. */
export async function outcome<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: Error }> {
  try {
    return { ok: true, value: await p };
  } catch (error) {
    return { ok: false, error: error as Error };
  }
}
