// The install step of Get Model: convert the downloaded checkpoint into a staging folder, record its origin, run a
// smoke forward on it, and only then rename it to its final name. The CLI runs it in its own process; the extension in
// a child process (installWorker.ts, forked by forkInstallWorker.ts).
//
// One rename: the converter writes straight into the staging folder (`inPlace`, no partial folder of its own), and
// this step renames the staging folder to the model folder only after the smoke forward passed on it, checking the
// model folder's path again just before (getModel checked it before the download, minutes earlier: a folder of the
// user's that appeared meanwhile is refused, not moved aside). getModel removes the staging folder whatever happens.
import * as fs from 'node:fs';
import { convert } from '../convert';
import { openCheckpoint } from '../convert/checkpoint';
import { buildRequest, decode, DEFAULT_POLICY } from '../engine';
import { loadModel } from '../model';
import { CancelledError } from '../engine/types';
import type { GetModelProgress, InstallJob, WeightHead } from './getModel';
import { outState } from './guards';
import { oldFolder, writeOrigin } from './store';

/** Converts the checkpoint into the staging folder, runs a smoke forward on it, then renames it into place. */
export async function installCheckpoint(job: InstallJob, signal: AbortSignal | undefined, onProgress: (p: GetModelProgress) => void): Promise<void> {
  try {
    await convert(job.checkpointDir, job.stagingDir, {
      inPlace: true,
      precision: job.precision,
      name: job.name,
      ...(job.maskToken !== undefined ? { maskToken: job.maskToken } : {}),
      signal,
      onProgress: (done, total, message) => onProgress({ phase: 'convert', done, total, ...(message ? { message } : {}) }),
    });
  } catch (e) {
    if (signal?.aborted) throw e instanceof CancelledError ? e : new CancelledError('cancelled');
    throw e;
  }
  if (signal?.aborted) throw new CancelledError('cancelled');
  await writeOrigin(job.stagingDir, job.origin);
  onProgress({ phase: 'check', folder: job.stagingDir });
  await smokeForward(job.stagingDir);
  if (signal?.aborted) throw new CancelledError('cancelled');
  await replaceFolder(job.stagingDir, job.finalDir);
}

/**
 * The converter's checks (openCheckpoint: the config, the tokenizer with its mask token and round trip, every
 * tensor's presence, dtype and shape) on a checkpoint whose weights are not downloaded yet: `weights` holds their
 * headers. Throws the converter's CheckpointError.
 */
export async function precheckCheckpoint(dir: string, weights: Record<string, WeightHead>, maskToken: string | undefined): Promise<void> {
  const remoteWeights = Object.fromEntries(Object.entries(weights).map(([name, w]) => [name, { size: w.size, head: Buffer.from(w.head, 'base64') }]));
  await openCheckpoint(dir, { ...(maskToken !== undefined ? { maskToken } : {}), remoteWeights });
}

/** Loads the folder (the loader's own probe checks the graph against the manifest) and decodes one small infill. */
export async function smokeForward(folder: string): Promise<void> {
  const model = await loadModel(folder, { executionProvider: 'cpu', threads: 1 });
  try {
    const request = {
      ...buildRequest(
        { before: 'def add(a, b):\n    return ', after: '\n' },
        { policy: DEFAULT_POLICY, endOfTextPrediction: true, singleLineSlots: 4, multiLineSlots: 4 },
      ),
      maxForwards: 4,
    };
    const trace = await decode(model, request);
    if (!(trace.stats.forwards >= 1)) throw new Error(`${folder}: the smoke forward ran no forward pass`);
  } finally {
    await model.dispose();
  }
}

/**
 * Puts `from` at `to`, replacing what was there with one rename (the old folder moves aside first, then goes). What
 * is there is checked again first (getModel checked it before the download, minutes ago): only an empty folder or a
 * model folder Unmask wrote is replaced.
 */
async function replaceFolder(from: string, to: string): Promise<void> {
  const state = outState(to);
  if (state.kind === 'other') throw new Error(`${to} ${state.why} (it appeared while the model was converted): left as it is, nothing was replaced`);
  const old = oldFolder(to);
  const had = state.kind !== 'absent';
  if (had) await fs.promises.rename(to, old);
  try {
    await fs.promises.rename(from, to);
  } catch (e) {
    if (had) await fs.promises.rename(old, to);
    throw e;
  }
  if (had) await fs.promises.rm(old, { recursive: true, force: true });
}
