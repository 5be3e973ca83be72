// Get Model: a catalog name or OWNER/REPO → the Hub's files → the converter → a smoke forward → a model folder.
// The files come from the Hugging Face cache (hfCache.ts) when a snapshot of the commit is there, and are downloaded
// into it otherwise, after the converter's checks passed on what arrives first (config.json, the tokenizer files, and
// the safetensors headers read by Range): a checkpoint the converter would refuse is refused before its weights are
// downloaded. The download stays in the cache, shared with other tools, unless the user asks to delete it.
// A folder appears under its final name only after all of that passed (the converter writes a staging folder, the
// smoke forward loads it, then one rename), so nothing half-written is ever used. No `vscode` import, and neither the
// converter nor onnxruntime: the CLI runs the install step (installStep.ts) in its process, the extension in a child
// (forkInstallWorker.ts). Where it all goes on disk, and the origin record: store.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_PRECISION, type Precision } from '../contract/precision';
import { checkRoom, thisMachine, type Machine } from './preflight';
import { CATALOG, findEntry, needsOf, type CatalogEntry } from './catalog';
import { checkOutDir } from './guards';
import { cachePlacement, deleteSnapshot, downloadToCache, hubCacheDir, missingFromSnapshot, readRef, repoCacheDir, snapshotDir, writeRef } from './hfCache';
import { CancelledError } from '../engine/types';
import {
  catalogNames,
  checkRepoId,
  checkRevision,
  endpointOf,
  HubError,
  listFiles,
  readRange,
  selectFiles,
  type DownloadProgress,
  type DownloadRepoOptions,
  type HubFile,
  type HubOptions,
  type RepoListing,
  withoutCredentials,
} from './hubClient';
import { lockRepo, reclaimStaging } from './leftovers';
import { downloadsDir as downloadsDirOf, modelFolder, modelsDir, readOrigin, stagingFolder, type Origin } from './store';

/** What the install step (convert, then check) is given. */
export interface InstallJob {
  checkpointDir: string;
  /** Where the converter writes; renamed to `finalDir` once the smoke forward passed. */
  stagingDir: string;
  finalDir: string;
  precision: Precision;
  name: string;
  origin: Origin;
  /** --mask-token: the mask token's text when the checkpoint names none. */
  maskToken?: string;
}

/** A safetensors file's size and first bytes (its 8-byte header length and header), read by Range before the download. */
export interface WeightHead {
  size: number;
  /** base64, so that it passes to the converter's process as it is. */
  head: string;
}

/**
 * The converter's checks on a checkpoint whose weights are not downloaded yet: `dir` holds config.json and the
 * tokenizer files, `weights` the safetensors headers. Throws the converter's error (precheckCheckpoint in
 * installStep.ts, in this process or, for the extension, in a child: forkPrechecker in forkInstallWorker.ts).
 */
export type Prechecker = (dir: string, weights: Record<string, WeightHead>, maskToken: string | undefined, signal?: AbortSignal) => Promise<void>;

export type GetModelProgress =
  | { phase: 'list'; repo: string }
  /** The Hugging Face cache holds the whole checkpoint (offline: the listing failed, the revision's snapshot is used). */
  | { phase: 'cached'; folder: string; offline: boolean }
  /** What the converter checks before the weights are downloaded: fetched (bytes) and checked. */
  | { phase: 'precheck'; bytes: number; files: number }
  | ({ phase: 'download' } & DownloadProgress)
  | { phase: 'convert'; done: number; total: number; message?: string }
  | { phase: 'check'; folder: string };

export type Installer = (job: InstallJob, signal: AbortSignal | undefined, onProgress: (p: GetModelProgress) => void) => Promise<void>;

export interface GetModelOptions extends HubOptions {
  /** A catalog name (open-dcoder-0.5b) or a Hub repository (OWNER/NAME). */
  source: string;
  revision?: string;
  precision?: Precision;
  /** Holds `models/` and `downloads/`. */
  storageDir: string;
  /** The model folder to write instead of `storageDir/models/NAME-PRECISION`. */
  outDir?: string;
  /**
   * Skip the disk and memory checks, and replace a model folder Unmask wrote of another repository at `outDir`. Never
   * makes it replace anything else: a file or a folder without unmask.json is refused in every case.
   */
  force?: boolean;
  /**
   * Delete the checkpoint's snapshot from the Hugging Face cache after a successful conversion (and the blobs no
   * other snapshot uses). Off by default: the cache is shared with transformers, huggingface_hub and other tools.
   */
  deleteDownload?: boolean;
  /** The Hugging Face cache (default hubCacheDir(): HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub). */
  cacheDir?: string;
  /** --mask-token: passed to the converter's checks and to the converter. */
  maskToken?: string;
  /** The converter's checks before the weights are downloaded; without it, the download starts after the listing. */
  precheck?: Prechecker;
  signal?: AbortSignal;
  onProgress?: (p: GetModelProgress) => void;
  machine?: Machine;
  openPart?: DownloadRepoOptions['openPart'];
  retries?: number;
  /** Converts and checks: installCheckpoint (installStep.ts) in this process, or forkInstaller (forkInstallWorker.ts) in a child. */
  install: Installer;
}

export interface GotModel {
  folder: string;
  name: string;
  origin: Origin;
  /** Bytes received over the network (the file list not counted). */
  received: number;
  /** The checkpoint's snapshot in the Hugging Face cache (gone when deleteDownload). */
  snapshot: string;
  /** The whole checkpoint was in the Hugging Face cache already. */
  fromCache: boolean;
}

/** What the source names: the repository, its revision and the folder name, with its catalog entry if any. */
export function resolveSource(source: string, revision?: string): { repo: string; revision: string; name: string; entry?: CatalogEntry } {
  const entry = findEntry(source);
  const repo = entry?.repo ?? source;
  if (!entry && !source.includes('/')) {
    throw new HubError('layout', `"${source}" is neither a catalog model (${listNames()}) nor a Hub repository (OWNER/NAME)`);
  }
  checkRepoId(repo);
  if (revision !== undefined) checkRevision(revision);
  const name = (entry?.name ?? repo.split('/')[1]).toLowerCase().replace(/[^a-z0-9._-]+/g, '-');
  return { repo, revision: revision ?? entry?.revision ?? 'main', name, ...(entry ? { entry } : {}) };
}

function listNames(): string {
  return CATALOG.map((e) => e.name).join(', ');
}

export async function getModel(o: GetModelOptions): Promise<GotModel> {
  const precision = o.precision ?? DEFAULT_PRECISION;
  const { repo, revision, name, entry } = resolveSource(o.source, o.revision);
  const finalDir = path.resolve(o.outDir ?? modelFolder(o.storageDir, name, precision));
  const downloadsDir = path.resolve(downloadsDirOf(o.storageDir));
  const repoDir = repoCacheDir(path.resolve(o.cacheDir ?? hubCacheDir()), repo);
  // before anything is listed, downloaded or replaced: what is at the model folder's path may be replaced at all
  const installed = await readOrigin(finalDir);
  checkOutDir({
    outDir: finalDir,
    storageDir: path.resolve(o.storageDir),
    downloadsDir,
    cacheDir: repoDir,
    modelsDir: path.resolve(modelsDir(o.storageDir)),
    repo,
    ...(installed ? { installedRepo: installed.repo } : {}),
    force: o.force ?? false,
  });
  const release = await lockRepo(downloadsDir, repo);
  try {
    await reclaimStaging(modelsDir(o.storageDir), path.dirname(finalDir), path.basename(finalDir));
    return await getLocked(o, { repo, revision, name, entry, precision, finalDir, repoDir, installed });
  } finally {
    await release();
    await fs.promises.rmdir(downloadsDir).catch(() => undefined); // when nothing else is kept there
  }
}

interface Resolved {
  repo: string;
  revision: string;
  name: string;
  entry?: CatalogEntry;
  precision: Precision;
  finalDir: string;
  /** `models--OWNER--NAME` in the Hugging Face cache. */
  repoDir: string;
  installed?: Origin;
}

/** Get Model's steps while it holds the repository's lock. */
async function getLocked(o: GetModelOptions, r: Resolved): Promise<GotModel> {
  const { repo, revision, name, entry, precision, finalDir, installed, repoDir } = r;
  const report = o.onProgress ?? (() => undefined);
  report({ phase: 'list', repo });
  const listed = await listOrCached(o, repoDir, repo, revision);
  const commit = listed.commit;
  const snapshot = snapshotDir(repoDir, commit);
  if (installed && installed.repo === repo && installed.commit === commit && installed.precision === precision) {
    return { folder: finalDir, name: `${name}-${precision}`, origin: installed, received: 0, snapshot, fromCache: true };
  }

  let received = 0;
  const missing = listed.listing ? await missingFromSnapshot(repoDir, commit, listed.files) : [];
  if (missing.length === 0) {
    report({ phase: 'cached', folder: snapshot, offline: !listed.listing });
    if (listed.listing) await writeRef(repoDir, revision, commit);
  } else {
    const listing = listed.listing!;
    const download: DownloadRepoOptions = { ...o, onProgress: (p) => report({ phase: 'download', ...p }) };
    if (o.precheck) received += await precheck(o, listing, listed.files, missing, repoDir, download, report);
    const files = listed.files;
    const downloadBytes = files.reduce((n, f) => n + (f.size ?? 0), 0);
    const weightsBytes = files.filter((f) => f.path.endsWith('.safetensors')).reduce((n, f) => n + (f.size ?? 0), 0);
    if (!o.force) {
      let already = 0;
      const place = cachePlacement(repoDir, commit);
      for (const f of files) {
        const at = place(f);
        already += (await fs.promises.stat(at.final).catch(() => fs.promises.stat(at.part).catch(() => undefined)))?.size ?? 0;
      }
      const problem = await checkRoom(repoDir, needsOf(weightsBytes, downloadBytes, precision, entry), already, o.machine ?? thisMachine);
      if (problem) throw new HubError('disk', `cannot get ${repo}: ${problem}`);
    }
    received += await downloadToCache(listing, missing, repoDir, download).catch((e: Error & { received?: number }) => {
      if (typeof e.received === 'number') e.received += received;
      throw e;
    });
  }
  if (o.signal?.aborted) throw new CancelledError('cancelled');

  const origin: Origin = {
    repo,
    revision,
    commit,
    precision,
    endpoint: withoutCredentials(endpointOf(o)),
    ...(entry ? { catalog: entry.name, license: entry.license } : {}),
    installed: new Date().toISOString(),
  };
  const stagingDir = stagingFolder(finalDir);
  await fs.promises.mkdir(path.dirname(finalDir), { recursive: true });
  await fs.promises.rm(stagingDir, { recursive: true, force: true });
  const job: InstallJob = {
    checkpointDir: snapshot,
    stagingDir,
    finalDir,
    precision,
    name: `${name}-${precision}`,
    origin,
    ...(o.maskToken !== undefined ? { maskToken: o.maskToken } : {}),
  };
  try {
    await o.install(job, o.signal, report);
  } catch (e) {
    throw withNextStep(e, repo);
  } finally {
    await fs.promises.rm(stagingDir, { recursive: true, force: true });
  }
  if (o.deleteDownload) await deleteSnapshot(repoDir, commit);
  return { folder: finalDir, name: job.name, origin, received, snapshot, fromCache: missing.length === 0 };
}

/**
 * The file list and the files the converter reads; when the Hub cannot be reached, the snapshot the cache's
 * `refs/REVISION` (or the commit itself) names, if it holds a config.json (the converter checks the rest).
 */
async function listOrCached(
  o: GetModelOptions,
  repoDir: string,
  repo: string,
  revision: string,
): Promise<{ commit: string; listing?: RepoListing; files: HubFile[] }> {
  try {
    const listing = await listFiles(repo, revision, o, o.signal);
    return { commit: listing.commit, listing, files: selectFiles(listing) };
  } catch (e) {
    if (!(e instanceof HubError && e.kind === 'network')) throw e;
    const commit = await readRef(repoDir, revision);
    if (!commit || !fs.existsSync(path.join(snapshotDir(repoDir, commit), 'config.json'))) throw e;
    return { commit, files: [] };
  }
}

/**
 * Fetches what the converter reads before the weights (the small files, into the cache: they are part of the
 * download; the safetensors headers, by Range) and runs its checks; a refusal says so with the bytes it cost. Returns
 * the bytes received.
 */
async function precheck(
  o: GetModelOptions,
  listing: RepoListing,
  files: HubFile[],
  missing: HubFile[],
  repoDir: string,
  download: DownloadRepoOptions,
  report: (p: GetModelProgress) => void,
): Promise<number> {
  const isWeights = (f: HubFile) => f.path.endsWith('.safetensors');
  let received = await downloadToCache(
    listing,
    missing.filter((f) => !isWeights(f)),
    repoDir,
    download,
  );
  const snapshot = snapshotDir(repoDir, listing.commit);
  const heads: Record<string, WeightHead> = {};
  for (const f of files.filter(isWeights)) {
    if (!missing.includes(f)) continue; // in the snapshot already: the converter reads its header from the file
    const length = await readRange(listing.repo, listing.commit, f.path, 0, 8, { ...o, signal: o.signal });
    received += length.length;
    let head = length;
    if (length.length === 8) {
      const n = length.readBigUInt64LE(0);
      // a length past the file or the converter's limit is refused by the converter from these 8 bytes alone
      if (n > 0n && n <= BigInt(Math.min(SAFETENSORS_HEADER_LIMIT, (f.size ?? Infinity) - 8))) {
        const header = await readRange(listing.repo, listing.commit, f.path, 8, Number(n), { ...o, signal: o.signal });
        received += header.length;
        head = Buffer.concat([length, header]);
      }
    }
    heads[f.path] = { size: f.size ?? head.length, head: head.toString('base64') };
  }
  report({ phase: 'precheck', bytes: received, files: Object.keys(heads).length });
  try {
    await o.precheck!(snapshot, heads, o.maskToken, o.signal);
  } catch (e) {
    if (e instanceof CancelledError || o.signal?.aborted) throw new CancelledError('cancelled');
    const refused = withNextStep(e, listing.repo);
    throw Object.assign(
      new HubError(
        'layout',
        `${listing.repo} at ${listing.commit.slice(0, 12)} was refused before its weights were downloaded ` +
          `(${formatKB(received)} fetched: config.json, the tokenizer files and the safetensors headers): ${refused.message}`,
      ),
      { received },
    );
  }
  return received;
}

/** The converter's limit on a safetensors header (CHECKPOINT_FILE_LIMITS.safetensorsHeader): a longer one is not fetched. */
const SAFETENSORS_HEADER_LIMIT = 100 * 1024 * 1024;

const formatKB = (n: number) => (n < 1e6 ? `${Math.ceil(n / 1e3)} kB` : `${(n / 1e6).toFixed(1)} MB`);

/** The converter's refusal with what to do next: a checkpoint without a mask token is probably not a diffusion model. */
function withNextStep(e: unknown, repo: string): Error {
  if (!(e instanceof Error)) return new Error(String(e));
  if (/no mask token/.test(e.message)) {
    return Object.assign(
      new Error(
        `${repo} is probably not a diffusion language model, which Unmask needs: ${e.message}. ` + `The catalog's code diffusion models: ${catalogNames()}`,
      ),
      { name: e.name },
    );
  }
  return e;
}
