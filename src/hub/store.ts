// The model store Get Model writes and Manage Models reads, in one place: its folder layout, the origin record
// (origin.json) each installed model carries, read through a parser that refuses what does not fit, and the list of
// installed models. No `vscode` import.
//
//   STORAGE/                      the storage (the CLI's default: $XDG_CACHE_HOME/unmask or ~/.cache/unmask)
//     models/NAME-PRECISION/      an installed model folder: the converter's files and origin.json
//     models/.NAME.staging-PID    the install step's staging folder (the converter writes into it, in place)
//     models/.NAME.old-PID        the folder a new install replaces, while it is moved aside
//     downloads/OWNER--NAME.lock  the lock of one repository's Get Model (leftovers.ts)
// The checkpoints themselves are in the Hugging Face cache (hfCache.ts), not here.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PRECISIONS, type Precision } from '../contract/precision';

/** Written into every model folder Get Model makes: where it came from (Manage Models lists it). */
export const ORIGIN_FILE = 'origin.json';

/**
 * Get Model writes every field; a record read back needs only what Get Model decides by (an update of the same
 * repository, the same commit and precision already installed): repo, commit and precision.
 */
export interface Origin {
  repo: string;
  commit: string;
  precision: Precision;
  revision?: string;
  endpoint?: string;
  /** The catalog's name, when it came from the catalog. */
  catalog?: string;
  license?: string;
  /** When it was installed (ISO 8601). */
  installed?: string;
}

/** The default storage for the command line: `$XDG_CACHE_HOME/unmask` or `~/.cache/unmask`. */
export function defaultStorageDir(): string {
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'unmask');
}

export function modelsDir(storageDir: string): string {
  return path.join(storageDir, 'models');
}

/** Where Get Model keeps its locks (and where older versions downloaded to). */
export function downloadsDir(storageDir: string): string {
  return path.join(storageDir, 'downloads');
}

/** The folder of an installed model: `models/NAME-PRECISION`. */
export function modelFolder(storageDir: string, name: string, precision: Precision): string {
  return path.join(modelsDir(storageDir), `${name}-${precision}`);
}

/** Hidden folders beside a model folder, named by the process that made them: the staging folder and the replaced one. */
export function stagingFolder(finalDir: string, pid = process.pid): string {
  return path.join(path.dirname(finalDir), `.${path.basename(finalDir)}.staging-${pid}`);
}
export function oldFolder(finalDir: string, pid = process.pid): string {
  return path.join(path.dirname(finalDir), `.${path.basename(finalDir)}.old-${pid}`);
}

/** A staging or old folder's name (`stagingFolder`, `oldFolder`, and the converter's `….partial-*` of a staging folder): the model's name and the process. */
export function parseLeftoverName(name: string): { model: string; kind: 'staging' | 'old'; pid: number } | undefined {
  const m = /^\.(.+)\.(staging|old)-(\d+)(?:\..*)?$/.exec(name);
  return m ? { model: m[1], kind: m[2] as 'staging' | 'old', pid: Number(m[3]) } : undefined;
}

/** An origin.json's text → its Origin; throws naming the first field that is missing or of the wrong kind. */
export function parseOrigin(text: string, file = ORIGIN_FILE): Origin {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not JSON (${(e as Error).message})`, { cause: e });
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new Error(`${file}: expected an object`);
  const r = o as Record<string, unknown>;
  for (const k of ['repo', 'commit', 'precision'] as const) {
    if (typeof r[k] !== 'string' || !r[k]) throw new Error(`${file}: "${k}" must be a non-empty string`);
  }
  for (const k of ['revision', 'endpoint', 'catalog', 'license', 'installed'] as const) {
    if (r[k] !== undefined && typeof r[k] !== 'string') throw new Error(`${file}: "${k}" must be a string when present`);
  }
  if (!(PRECISIONS as readonly unknown[]).includes(r.precision)) throw new Error(`${file}: "precision" must be one of ${PRECISIONS.join(', ')}`);
  const origin: Origin = { repo: r.repo as string, commit: r.commit as string, precision: r.precision as Precision };
  for (const k of ['revision', 'endpoint', 'catalog', 'license', 'installed'] as const) if (typeof r[k] === 'string') origin[k] = r[k];
  return origin;
}

export async function writeOrigin(folder: string, origin: Origin): Promise<void> {
  await fs.promises.writeFile(path.join(folder, ORIGIN_FILE), JSON.stringify(origin, null, 2) + '\n');
}

/**
 * The origin of an installed model folder, or undefined when there is none (or no model beside it) or it cannot be
 * read as one (a malformed origin.json makes the folder one that Get Model did not install, not an error).
 */
export async function readOrigin(folder: string): Promise<Origin | undefined> {
  if (!fs.existsSync(path.join(folder, 'unmask.json'))) return undefined;
  const file = path.join(folder, ORIGIN_FILE);
  try {
    return parseOrigin(await fs.promises.readFile(file, 'utf8'), file);
  } catch {
    return undefined;
  }
}

export interface Installed {
  folder: string;
  name: string;
  bytes: number;
  origin?: Origin;
}

async function folderBytes(dir: string): Promise<number> {
  let n = 0;
  for (const e of await fs.promises.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    n += e.isDirectory() ? await folderBytes(p) : e.isFile() ? (await fs.promises.stat(p)).size : 0;
  }
  return n;
}

/** Model folders Get Model installed (each has unmask.json; staging folders start with a dot and are skipped). */
export async function installedModels(storage: string): Promise<Installed[]> {
  const dir = modelsDir(storage);
  const names = await fs.promises.readdir(dir).catch(() => [] as string[]);
  const found: Installed[] = [];
  for (const name of names.sort()) {
    const folder = path.join(dir, name);
    if (name.startsWith('.') || !fs.existsSync(path.join(folder, 'unmask.json'))) continue;
    const origin = await readOrigin(folder);
    found.push({ folder, name, bytes: await folderBytes(folder), ...(origin ? { origin } : {}) });
  }
  return found;
}
