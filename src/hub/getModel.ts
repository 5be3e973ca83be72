// Get Model: a catalog name or OWNER/REPO → the Hub's files → the converter → a smoke forward → a model folder.
// A folder appears under its final name only after all of that passed (the converter writes a staging folder, the
// smoke forward loads it, then one rename), so nothing half-written is ever used. No `vscode` import, and neither the
// converter nor onnxruntime: the CLI installs in its process (install.ts), the extension in a child (installer.ts).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Precision } from '../convert/spec';
import { checkRoom, thisMachine, type Machine } from './preflight';
import { CATALOG, findEntry, needsOf, type CatalogEntry } from './catalog';
import { checkOutDir } from './guards';
import {
  cancelled,
  checkRepoId,
  checkRevision,
  downloadFiles,
  endpointOf,
  HubError,
  listFiles,
  PART_SUFFIX,
  selectFiles,
  type DownloadProgress,
  type DownloadRepoOptions,
  type HubOptions,
  withoutCredentials,
} from './hubClient';
import { lockRepo, reclaimStaging } from './leftovers';

/** Written into every model folder Get Model makes: where it came from (Manage Models lists it). */
export const ORIGIN_FILE = 'origin.json';

export interface Origin {
  repo: string;
  revision: string;
  commit: string;
  precision: Precision;
  endpoint: string;
  /** The catalog's name, when it came from the catalog. */
  catalog?: string;
  license?: string;
  installed: string;
}

/** What the install step (convert, then check) is given. */
export interface InstallJob {
  checkpointDir: string;
  /** Where the converter writes; renamed to `finalDir` once the smoke forward passed. */
  stagingDir: string;
  finalDir: string;
  precision: Precision;
  name: string;
  origin: Origin;
}

export type GetModelProgress =
  | { phase: 'list'; repo: string }
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
  /** Keep the downloaded checkpoint after a successful conversion (it is removed by default: it is the larger part). */
  keepDownload?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: GetModelProgress) => void;
  machine?: Machine;
  openPart?: DownloadRepoOptions['openPart'];
  retries?: number;
  /** Converts and checks: installCheckpoint (install.ts) in this process, or forkInstaller (installer.ts) in a child. */
  install: Installer;
}

export interface GotModel {
  folder: string;
  name: string;
  origin: Origin;
  /** Bytes received over the network. */
  received: number;
}

/** The default storage for the command line: `$XDG_CACHE_HOME/unmask` or `~/.cache/unmask`. */
export function defaultStorageDir(): string {
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'unmask');
}

export function modelsDir(storageDir: string): string {
  return path.join(storageDir, 'models');
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
  const precision = o.precision ?? 'int8';
  const { repo, revision, name, entry } = resolveSource(o.source, o.revision);
  const finalDir = path.resolve(o.outDir ?? path.join(modelsDir(o.storageDir), `${name}-${precision}`));
  const downloadsDir = path.resolve(o.storageDir, 'downloads');
  // before anything is listed, downloaded or replaced: what is at the model folder's path may be replaced at all
  const installed = await readOrigin(finalDir);
  checkOutDir({
    outDir: finalDir,
    storageDir: path.resolve(o.storageDir),
    downloadsDir,
    modelsDir: path.resolve(modelsDir(o.storageDir)),
    repo,
    ...(installed ? { installedRepo: installed.repo } : {}),
    force: o.force ?? false,
  });
  const release = await lockRepo(downloadsDir, repo);
  try {
    await reclaimStaging(modelsDir(o.storageDir), path.dirname(finalDir), path.basename(finalDir));
    return await getLocked(o, { repo, revision, name, entry, precision, finalDir, downloadsDir, installed });
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
  downloadsDir: string;
  installed?: Origin;
}

/** Get Model's steps while it holds the repository's lock. */
async function getLocked(o: GetModelOptions, r: Resolved): Promise<GotModel> {
  const { repo, revision, name, entry, precision, finalDir, installed } = r;
  const report = o.onProgress ?? (() => undefined);
  report({ phase: 'list', repo });
  const listing = await listFiles(repo, revision, o, o.signal);
  const files = selectFiles(listing);
  // listing.commit is a checked commit id (40 hex digits), so this stays under downloads/
  const checkpointDir = path.join(r.downloadsDir, repo.replace('/', '--'), listing.commit);
  if (installed && installed.repo === repo && installed.commit === listing.commit && installed.precision === precision) {
    return { folder: finalDir, name: `${name}-${precision}`, origin: installed, received: 0 };
  }

  const downloadBytes = files.reduce((n, f) => n + (f.size ?? 0), 0);
  const weightsBytes = files.filter((f) => f.path.endsWith('.safetensors')).reduce((n, f) => n + (f.size ?? 0), 0);
  if (!o.force) {
    let already = 0;
    for (const f of files) {
      const at = path.join(checkpointDir, f.path);
      already += (await fs.promises.stat(at).catch(() => fs.promises.stat(at + PART_SUFFIX).catch(() => undefined)))?.size ?? 0;
    }
    await fs.promises.mkdir(o.storageDir, { recursive: true });
    const problem = await checkRoom(o.storageDir, needsOf(weightsBytes, downloadBytes, precision, entry), already, o.machine ?? thisMachine);
    if (problem) throw new HubError('disk', `cannot get ${repo}: ${problem}`);
  }

  const received = await downloadFiles(listing, files, checkpointDir, {
    ...o,
    onProgress: (p) => report({ phase: 'download', ...p }),
  });
  if (o.signal?.aborted) throw cancelled();

  const origin: Origin = {
    repo,
    revision,
    commit: listing.commit,
    precision,
    endpoint: withoutCredentials(endpointOf(o)),
    ...(entry ? { catalog: entry.name, license: entry.license } : {}),
    installed: new Date().toISOString(),
  };
  const stagingDir = path.join(path.dirname(finalDir), `.${path.basename(finalDir)}.staging-${process.pid}`);
  await fs.promises.mkdir(path.dirname(finalDir), { recursive: true });
  await fs.promises.rm(stagingDir, { recursive: true, force: true });
  const job: InstallJob = { checkpointDir, stagingDir, finalDir, precision, name: `${name}-${precision}`, origin };
  try {
    await o.install(job, o.signal, report);
  } finally {
    await fs.promises.rm(stagingDir, { recursive: true, force: true });
  }
  if (!o.keepDownload) {
    await fs.promises.rm(checkpointDir, { recursive: true, force: true });
    // the repository's and the downloads' folders go too when nothing else is kept in them
    for (const dir of [path.dirname(checkpointDir), path.dirname(path.dirname(checkpointDir))]) await fs.promises.rmdir(dir).catch(() => undefined);
  }
  return { folder: finalDir, name: job.name, origin, received };
}

/** The origin of an installed model folder, or undefined when there is none (or no model beside it). */
export async function readOrigin(folder: string): Promise<Origin | undefined> {
  if (!fs.existsSync(path.join(folder, 'unmask.json'))) return undefined;
  try {
    return JSON.parse(await fs.promises.readFile(path.join(folder, ORIGIN_FILE), 'utf8')) as Origin;
  } catch {
    return undefined;
  }
}
