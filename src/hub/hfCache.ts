// The Hugging Face cache, shared with transformers, huggingface_hub, the Hub's CLI and llama.cpp's -hf: per repository
// `models--OWNER--NAME/` with `blobs/<etag>` (the LFS sha256, or the git blob id of a small file), `snapshots/COMMIT/PATH`
// (relative links to the blobs; copies where links cannot be made) and `refs/REVISION` (the commit a branch or tag
// named). Get Model looks there first and converts from a complete snapshot with nothing downloaded, and downloads
// into it, so every other tool sees the files; it deletes a snapshot only when the user asks. A partial blob keeps
// huggingface_hub's name (`blobs/<etag>.incomplete`), so either tool resumes the other's download. No `vscode` import.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkCommit, COMMIT_RE, downloadFiles, hfHome, HubError, type DownloadRepoOptions, type HubFile, type Placement, type RepoListing } from './hubClient';

/** A partial blob's suffix: huggingface_hub's. */
export const INCOMPLETE_SUFFIX = '.incomplete';

/** `HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub` (huggingface_hub's rule; HUGGINGFACE_HUB_CACHE is its old name). */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE || path.join(hfHome(env), 'hub'));
}

/** `CACHE/models--OWNER--NAME`. */
export function repoCacheDir(cacheDir: string, repo: string): string {
  return path.join(cacheDir, `models--${repo.split('/').join('--')}`);
}

export function snapshotDir(repoDir: string, commit: string): string {
  return path.join(repoDir, 'snapshots', checkCommit(commit, 'the snapshot'));
}

/** A file's place in a snapshot; refuses a name that would leave it. */
function snapshotPath(snapshot: string, file: string): string {
  const at = path.join(snapshot, ...file.split('/'));
  if (!path.resolve(at).startsWith(path.resolve(snapshot) + path.sep)) throw new HubError('layout', `refusing the file name ${JSON.stringify(file)}`);
  return at;
}

/** The blob's name: its etag as the Hub gives it (the LFS sha256, else the git blob id); a made-up one when the Hub gave neither. */
export function blobName(file: HubFile, commit: string): string {
  const etag = file.sha256 ?? file.blobId;
  if (etag && /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(etag)) return etag;
  return `unmask-${createHash('sha256').update(`${commit}\0${file.path}`).digest('hex')}`;
}

/** Where downloadFiles puts a file of `commit` in the cache: the blob, and huggingface_hub's name for its partial download. */
export function cachePlacement(repoDir: string, commit: string): (file: HubFile) => Placement {
  return (file) => {
    const final = path.join(repoDir, 'blobs', blobName(file, commit));
    return { final, part: final + INCOMPLETE_SUFFIX };
  };
}

/** The files of `files` the snapshot lacks (a file counts when it is there, resolves to a regular file, and has the listed size). */
export async function missingFromSnapshot(repoDir: string, commit: string, files: HubFile[]): Promise<HubFile[]> {
  const snapshot = snapshotDir(repoDir, commit);
  const missing: HubFile[] = [];
  for (const f of files) {
    const st = await fs.promises.stat(snapshotPath(snapshot, f.path)).catch(() => undefined);
    if (!st?.isFile() || (f.size !== undefined && st.size !== f.size)) missing.push(f);
  }
  return missing;
}

/** Puts `blob` into the snapshot as `file`: a relative link (`../../blobs/…`), or where links cannot be made (Windows without the right) the blob itself, moved, as huggingface_hub does. */
export async function linkIntoSnapshot(repoDir: string, commit: string, file: HubFile, blob: string): Promise<void> {
  const at = snapshotPath(snapshotDir(repoDir, commit), file.path);
  const st = await fs.promises.stat(at).catch(() => undefined);
  if (st?.isFile() && (file.size === undefined || st.size === file.size)) return;
  await fs.promises.mkdir(path.dirname(at), { recursive: true });
  await fs.promises.rm(at, { force: true });
  try {
    await fs.promises.symlink(path.relative(path.dirname(at), blob), at);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'EACCES' && code !== 'ENOTSUP' && code !== 'EINVAL') throw e;
    await fs.promises.rename(blob, at);
  }
}

/** Writes `refs/REVISION` (a branch or tag, not a commit) with the commit it names now. */
export async function writeRef(repoDir: string, revision: string, commit: string): Promise<void> {
  if (COMMIT_RE.test(revision)) return;
  const ref = path.join(repoDir, 'refs', ...revision.split('/'));
  await fs.promises.mkdir(path.dirname(ref), { recursive: true });
  await fs.promises.writeFile(ref, commit);
}

/** The commit `refs/REVISION` names (a commit names itself), or undefined. */
export async function readRef(repoDir: string, revision: string): Promise<string | undefined> {
  if (COMMIT_RE.test(revision)) return revision.toLowerCase();
  const text = await fs.promises.readFile(path.join(repoDir, 'refs', ...revision.split('/')), 'utf8').catch(() => undefined);
  const commit = text?.trim().toLowerCase();
  return commit && COMMIT_RE.test(commit) ? commit : undefined;
}

/**
 * Downloads the `files` of `listing` into the cache (blobs, resumed and verified as downloadFiles does) and links
 * each into `snapshots/COMMIT/`; writes `refs/REVISION`. Returns the bytes received over the network.
 */
export async function downloadToCache(listing: RepoListing, files: HubFile[], repoDir: string, options: DownloadRepoOptions = {}): Promise<number> {
  const received = await downloadFiles(listing, files, repoDir, {
    ...options,
    placeAt: cachePlacement(repoDir, listing.commit),
    afterFile: (file, blob) => linkIntoSnapshot(repoDir, listing.commit, file, blob),
  });
  await writeRef(repoDir, listing.revision, listing.commit);
  return received;
}

/**
 * Deletes the snapshot of `commit`, the blobs no other snapshot links to, the refs that name it, and the repository's
 * folder when nothing else is left in it. Only on the user's request (--delete-download, Manage Models): other tools
 * may use the files. Returns the bytes freed.
 */
export async function deleteSnapshot(repoDir: string, commit: string): Promise<number> {
  const snapshot = snapshotDir(repoDir, commit);
  const blobs = path.join(repoDir, 'blobs');
  const usedElsewhere = new Set<string>();
  const mine = new Set<string>();
  let freed = 0;
  for (const s of await fs.promises.readdir(path.join(repoDir, 'snapshots')).catch(() => [] as string[])) {
    const dir = path.join(repoDir, 'snapshots', s);
    for (const e of await fs.promises.readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
      const p = path.join(e.parentPath, e.name);
      if (e.isSymbolicLink()) {
        const target = path.resolve(path.dirname(p), await fs.promises.readlink(p));
        (s === path.basename(snapshot) ? mine : usedElsewhere).add(target);
      } else if (e.isFile() && s === path.basename(snapshot)) {
        freed += (await fs.promises.stat(p)).size;
      }
    }
  }
  await fs.promises.rm(snapshot, { recursive: true, force: true });
  for (const blob of mine) {
    if (usedElsewhere.has(blob) || path.dirname(blob) !== blobs) continue;
    freed += (await fs.promises.stat(blob).catch(() => undefined))?.size ?? 0;
    await fs.promises.rm(blob, { force: true });
  }
  for (const e of await fs.promises.readdir(path.join(repoDir, 'refs'), { withFileTypes: true, recursive: true }).catch(() => [])) {
    const p = path.join(e.parentPath, e.name);
    if (e.isFile() && (await fs.promises.readFile(p, 'utf8').catch(() => '')).trim() === path.basename(snapshot)) await fs.promises.rm(p, { force: true });
  }
  // empty folders, deepest first, then the repository's own when it holds nothing else
  for (const sub of ['snapshots', 'refs', 'blobs']) await removeEmpty(path.join(repoDir, sub));
  await fs.promises.rmdir(repoDir).catch(() => undefined);
  return freed;
}

async function removeEmpty(dir: string): Promise<void> {
  for (const e of await fs.promises.readdir(dir, { withFileTypes: true }).catch(() => [])) if (e.isDirectory()) await removeEmpty(path.join(dir, e.name));
  await fs.promises.rmdir(dir).catch(() => undefined);
}
