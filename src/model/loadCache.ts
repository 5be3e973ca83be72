// What a load learns once per model folder and machine, kept beside the model in `.unmask-cache.json` so that a later
// load takes seconds (docs/architecture.md, "Loading"): the verdict of the slow load-time probes (every token id's
// answer finite, the longest canvas runs, the logitsShift check and its warnings) and the cost model per CPU and
// thread count (costModel.ts). Keyed by the folder's fingerprint: the manifest's text and the size, modification
// time and inode of every file it names, so a changed or replaced file runs the probes again (a file rewritten in
// place with the same size within the same millisecond is not noticed; hashing 0.5 GB of weights at every load
// would cost the seconds this saves). Unmask writes only this file; a folder it cannot write just loads slower.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CostMeasurement } from './costModel';
import { readBoundedJson } from './boundedFile';
import { ModelFolderError } from '../contract/manifest';

export const LOAD_CACHE_FILE = '.unmask-cache.json';
const LIMIT = 1 << 20;
// 2: sessions stopped spin-waiting (onnxDenoiser.ts), so costs measured before are not this session's
const VERSION = 3;

export interface LoadCache {
  version: number;
  fingerprint: string;
  /** The slow probes passed for this fingerprint; the warnings they gave, to log again. */
  probes?: { warnings: string[] };
  /** Cost measurements by `${cpu}|${threads}`. */
  costs: Record<string, CostMeasurement>;
}

/** The fingerprint of a model folder: its manifest's text and the identity of every file the manifest names. */
export function folderFingerprint(dir: string, files: readonly string[]): string {
  const h = createHash('sha256');
  for (const name of ['unmask.json', ...files]) {
    const file = path.join(dir, name);
    const s = fs.statSync(file);
    h.update(`${name}\0${s.size}\0${s.mtimeMs}\0${s.ino}\0`);
    if (name === 'unmask.json') h.update(fs.readFileSync(file));
  }
  return h.digest('hex');
}

/** The cache of `dir` for `fingerprint`, or a fresh one (absent, unreadable, another version or another fingerprint). */
export function readLoadCache(dir: string, fingerprint: string): LoadCache {
  const fresh: LoadCache = { version: VERSION, fingerprint, costs: {} };
  const file = path.join(dir, LOAD_CACHE_FILE);
  if (!fs.existsSync(file)) return fresh;
  try {
    const c = readBoundedJson(file, { limit: LIMIT, namedBy: 'the load cache', error: (f, m) => new ModelFolderError(f, m) }) as LoadCache;
    if (c?.version !== VERSION || c.fingerprint !== fingerprint || typeof c.costs !== 'object' || c.costs === null) return fresh;
    return c;
  } catch {
    return fresh; // a broken cache is only a slower load
  }
}

/** Writes the cache (a temporary file renamed into place); false when the folder cannot be written. */
export function writeLoadCache(dir: string, cache: LoadCache): boolean {
  const file = path.join(dir, LOAD_CACHE_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, JSON.stringify(cache));
    fs.renameSync(tmp, file);
    return true;
  } catch {
    fs.rmSync(tmp, { force: true });
    return false;
  }
}

export const costKey = (cpu: string, threads: number) => `${cpu}|${threads}`;
