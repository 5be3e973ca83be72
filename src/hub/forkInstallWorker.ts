// Runs the install step (installStep.ts: convert, smoke forward, rename into place) in a child process, the
// installWorker.ts bundle (dist/installWorker.js), for the extension host:
// converting reads gigabytes and quantizes for minutes on the CPU, which on the extension host's thread would freeze
// every extension, and a worker thread would still share its memory, so running out of it would take the editor
// down. A child process keeps both apart and is killed outright on a cancel that the converter does not heed.
import { fork } from 'node:child_process';
import { CancelledError } from '../engine/types';
import type { GetModelProgress, InstallJob, Installer, Prechecker, WeightHead } from './getModel';

/** Messages between the extension and installWorker.ts. */
export type ToWorker =
  { type: 'install'; job: InstallJob } | { type: 'precheck'; dir: string; weights: Record<string, WeightHead>; maskToken?: string } | { type: 'cancel' };
export type FromWorker = { type: 'progress'; progress: GetModelProgress } | { type: 'done' } | { type: 'error'; name: string; message: string };

/** Seconds a cancelled worker gets to stop by itself before it is killed. */
const CANCEL_GRACE_MS = 5000;

export function forkInstaller(workerModule: string, log: (line: string) => void = () => undefined, execArgv: string[] = []): Installer {
  return (job, signal, onProgress) => runWorker(workerModule, { type: 'install', job }, signal, onProgress, log, execArgv);
}

/** The converter's checks before the download (precheckCheckpoint), in a child: parsing a large tokenizer takes seconds. */
export function forkPrechecker(workerModule: string, log: (line: string) => void = () => undefined, execArgv: string[] = []): Prechecker {
  return (dir, weights, maskToken, signal) =>
    runWorker(workerModule, { type: 'precheck', dir, weights, ...(maskToken !== undefined ? { maskToken } : {}) }, signal, () => undefined, log, execArgv);
}

function runWorker(
  workerModule: string,
  request: ToWorker,
  signal: AbortSignal | undefined,
  onProgress: (p: GetModelProgress) => void,
  log: (line: string) => void,
  execArgv: string[],
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(new CancelledError('cancelled'));
    const child = fork(workerModule, [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], execArgv });
    let settled = false;
    let stderr = '';
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve();
    };
    const onAbort = () => {
      child.send({ type: 'cancel' } satisfies ToWorker);
      const killer = setTimeout(() => child.kill('SIGKILL'), CANCEL_GRACE_MS);
      child.once('exit', () => clearTimeout(killer));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout?.on('data', (d: Buffer) => log(String(d).trimEnd()));
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + String(d)).slice(-4000);
      log(String(d).trimEnd());
    });
    child.on('message', (m: FromWorker) => {
      if (m.type === 'progress') onProgress(m.progress);
      else if (m.type === 'done') settle();
      // the child's error by its name: a cancellation is the one CancelledError on this side too
      else settle(m.name === 'Cancelled' ? new CancelledError(m.message) : Object.assign(new Error(m.message), { name: m.name }));
    });
    child.on('error', (e) => settle(new Error(`the converter process could not run: ${e.message}`)));
    child.on('exit', (code, sig) => {
      if (signal?.aborted) return settle(new CancelledError('cancelled'));
      settle(
        new Error(
          `the converter process stopped (${sig ?? `exit code ${code}`}) before it finished` +
            `${sig === 'SIGKILL' ? ' (out of memory?)' : ''}${stderr ? `: ${stderr.trim().split('\n').slice(-3).join(' / ')}` : ''}`,
        ),
      );
    });
    child.send(request);
  });
}
