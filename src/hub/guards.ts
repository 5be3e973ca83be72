// What Get Model checks before anything on disk is replaced: the model folder it writes (--out) against the storage,
// the downloads and what is there now. The rule: Unmask replaces only what it wrote itself; a file, or a non-empty
// folder without a model folder's manifest (unmask.json), is refused whatever the flags say. (Revisions, commit ids
// and HF_ENDPOINT's credentials are checked in hubClient.ts, where the Hub's names are.) No `vscode` import.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isInside, realish } from '../convert/paths';
import { HubError } from './hubClient';

/** Two paths overlap when one is inside the other, compared as given and with links resolved. */
export function overlaps(a: string, b: string): boolean {
  const [ra, rb] = [realish(a), realish(b)];
  return isInside(a, b) || isInside(b, a) || isInside(ra, rb) || isInside(rb, ra);
}

/** What the model folder's path holds now. */
export type OutState = { kind: 'absent' } | { kind: 'empty' } | { kind: 'model' } | { kind: 'other'; why: string };

/** absent, an empty folder, a model folder (carries unmask.json), or something else (said why). */
export function outState(dir: string): OutState {
  const st = fs.lstatSync(dir, { throwIfNoEntry: false });
  if (!st) return { kind: 'absent' };
  if (st.isSymbolicLink()) return { kind: 'other', why: 'is a link' };
  if (!st.isDirectory()) return { kind: 'other', why: 'is a file, not a folder' };
  const names = fs.readdirSync(dir);
  if (names.length === 0) return { kind: 'empty' };
  const manifest = fs.lstatSync(path.join(dir, 'unmask.json'), { throwIfNoEntry: false });
  if (manifest?.isFile()) return { kind: 'model' };
  return {
    kind: 'other',
    why: `is a folder that is not empty (${names.length} ${names.length === 1 ? 'entry' : 'entries'}) and not a model folder Unmask wrote (no unmask.json)`,
  };
}

export interface OutCheck {
  /** The model folder to write (resolved). */
  outDir: string;
  storageDir: string;
  /** Where downloads go (`storage/downloads`): the checkpoint must never be inside or around the model folder. */
  downloadsDir: string;
  /** The repository's folder in the Hugging Face cache (`models--OWNER--NAME`), where the checkpoint is read from. */
  cacheDir?: string;
  modelsDir: string;
  /** The repository being installed, and the one an Unmask model folder at `outDir` came from (origin.json). */
  repo: string;
  installedRepo?: string;
  force: boolean;
}

/**
 * Throws unless the model folder may be written at `outDir`: refused when it overlaps the downloads (the checkpoint
 * would be deleted with it or replace it), is the storage or its models folder, or holds anything but an Unmask model
 * folder; an Unmask model folder of another repository (or one `convert` wrote) is replaced only with --force.
 */
export function checkOutDir(c: OutCheck): void {
  const say = (why: string, todo: string) => new HubError('layout', `--out ${c.outDir} ${why}; ${todo}`);
  if (overlaps(c.outDir, c.downloadsDir)) {
    throw say(`overlaps the download folder ${c.downloadsDir} (the checkpoint is downloaded there and removed after converting)`, 'name a folder outside it');
  }
  if (c.cacheDir && overlaps(c.outDir, c.cacheDir)) {
    throw say(`overlaps ${c.cacheDir}, the Hugging Face cache's folder of this repository (the checkpoint is read from there)`, 'name a folder outside it');
  }
  if (isInside(c.storageDir, c.outDir) || isInside(realish(c.storageDir), realish(c.outDir)) || path.resolve(c.outDir) === path.resolve(c.modelsDir)) {
    throw say(`would hold or replace Unmask's storage (${c.storageDir})`, "name a new folder for this model, e.g. inside the storage's models/");
  }
  const state = outState(c.outDir);
  if (state.kind === 'other') {
    throw say(`${state.why}: Unmask replaces only model folders it wrote, --force included`, 'name a new or empty folder');
  }
  if (state.kind === 'model' && !c.force && c.installedRepo !== c.repo) {
    throw say(
      `already holds a model folder${c.installedRepo ? ` of ${c.installedRepo}` : ' (not one Get Model installed)'}`,
      'pass --force to replace it, or name another folder',
    );
  }
}
