// What an interrupted Get Model leaves, and the lock that keeps two of one repository apart. A killed install leaves
// its staging folder (`.NAME.staging-PID`; versions before the single rename also left the converter's
// `.NAME.staging-PID.partial-*` beside it, still recognised) and the
// replaced folder (`.NAME.old-PID`) in the models folder, and its download under downloads/; the next run reclaims
// the staging and old folders whose process is gone, and Manage Models lists what is left with its size. No `vscode`
// import.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HubError, PART_SUFFIX } from './hubClient';
import { downloadsDir, modelsDir, parseLeftoverName } from './store';

/** Whether a process with this id runs (on this machine); a process of another user counts as running. */
export function pidAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface Leftover {
  folder: string;
  /** 'staging': a half-made model folder; 'download': a checkpoint download (partial when `.part` files remain). */
  kind: 'staging' | 'download';
  bytes: number;
  /** The model folder's name (staging) or OWNER/NAME at COMMIT (download). */
  what: string;
  partial?: boolean;
}

async function folderBytes(dir: string): Promise<number> {
  let n = 0;
  for (const e of await fs.promises.readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = path.join(dir, e.name);
    n += e.isDirectory() ? await folderBytes(p) : e.isFile() ? ((await fs.promises.lstat(p).catch(() => undefined))?.size ?? 0) : 0;
  }
  return n;
}

async function hasPart(dir: string): Promise<boolean> {
  for (const e of await fs.promises.readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) if (e.name.endsWith(PART_SUFFIX)) return true;
  return false;
}

/** Staging and old folders in `dir` whose process is gone; only those of `name` when it is given. */
async function deadStaging(dir: string, name?: string): Promise<{ folder: string; name: string }[]> {
  const found: { folder: string; name: string }[] = [];
  for (const e of await fs.promises.readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const m = parseLeftoverName(e.name);
    if (!m || !e.isDirectory() || (name !== undefined && m.model !== name) || pidAlive(m.pid)) continue;
    found.push({ folder: path.join(dir, e.name), name: m.model });
  }
  return found;
}

/** Removes the staging and old folders of dead processes: all of them in `modelsDir`, those of `name` in `dir`. */
export async function reclaimStaging(modelsDir: string, dir: string, name: string): Promise<string[]> {
  const gone = [...(await deadStaging(modelsDir)), ...(path.resolve(dir) === path.resolve(modelsDir) ? [] : await deadStaging(dir, name))];
  for (const g of gone) await fs.promises.rm(g.folder, { recursive: true, force: true });
  return gone.map((g) => g.folder);
}

/** The lock file of a repository's download: `downloads/OWNER--NAME.lock`, holding the process id. */
export function lockPath(downloadsDir: string, repo: string): string {
  return path.join(downloadsDir, `${repo.replace('/', '--')}.lock`);
}

function lockHolder(lock: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(lock, 'utf8').trim());
    return Number.isSafeInteger(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the lock of `repo`'s download, or throws a 'busy' HubError naming the process that holds it. The lock file is
 * written whole before it appears (a link of a written file, which fails when the name exists); one whose process
 * is gone is stale and taken over. Returns its release.
 */
export async function lockRepo(downloadsDir: string, repo: string): Promise<() => Promise<void>> {
  await fs.promises.mkdir(downloadsDir, { recursive: true });
  const lock = lockPath(downloadsDir, repo);
  const mine = `${lock}.${process.pid}.tmp`;
  await fs.promises.writeFile(mine, `${process.pid}\n`);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await fs.promises.link(mine, lock);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const holder = lockHolder(lock);
        if (holder !== undefined && pidAlive(holder) && attempt < 2) {
          throw new HubError(
            'busy',
            `another Get Model of ${repo} is running (process ${holder}${holder === process.pid ? ', this one' : ''}): wait for it to finish. ` +
              `If no such process runs, delete ${lock}`,
          );
        }
        if (attempt >= 2) throw new HubError('busy', `cannot take the lock ${lock} of ${repo}'s download; delete it if no Get Model is running`);
        // stale: its process is gone (or it is unreadable); take it over
        await fs.promises.rm(lock, { force: true });
      }
    }
  } finally {
    await fs.promises.rm(mine, { force: true });
  }
  return async () => {
    if (lockHolder(lock) === process.pid) await fs.promises.rm(lock, { force: true });
  };
}

/**
 * What interrupted installs left in `storage`: staging and old folders of dead processes in models/, and downloads
 * under downloads/ that no running Get Model holds (a partial one resumes when the same model is got again; a kept
 * complete one is reused), each with its size.
 */
export async function findLeftovers(storage: string): Promise<Leftover[]> {
  const found: Leftover[] = [];
  for (const s of await deadStaging(modelsDir(storage))) {
    found.push({ folder: s.folder, kind: 'staging', bytes: await folderBytes(s.folder), what: s.name });
  }
  const downloads = downloadsDir(storage);
  for (const r of await fs.promises.readdir(downloads, { withFileTypes: true }).catch(() => [])) {
    if (!r.isDirectory()) continue;
    const holder = lockHolder(path.join(downloads, `${r.name}.lock`));
    if (holder !== undefined && pidAlive(holder)) continue;
    for (const c of await fs.promises.readdir(path.join(downloads, r.name), { withFileTypes: true }).catch(() => [])) {
      if (!c.isDirectory()) continue;
      const folder = path.join(downloads, r.name, c.name);
      const partial = await hasPart(folder);
      found.push({ folder, kind: 'download', bytes: await folderBytes(folder), what: `${r.name.replace('--', '/')} at ${c.name.slice(0, 12)}`, partial });
    }
  }
  return found;
}
