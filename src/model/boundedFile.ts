// The one reader of the files Unmask parses from disk (a model folder's unmask.json and tokenizer.json, a checkpoint's
// config.json, tokenizer files and shard index, the command line's source file): a regular file (the link followed;
// a FIFO, a device such as /dev/zero or a folder is refused by name before it is opened), no larger than its limit
// (and read no further than that, whatever the file does while it is read), and for JSON within a budget
// (src/model/jsonBudget.ts) before JSON.parse builds anything. Before it, the converter read with readFileSync: a
// config.json linked to /dev/zero grew past 6 GB, as a FIFO it hung, and a parse error quoted the first bytes of
// whatever file the link named.
import * as fs from 'node:fs';
import { JSON_BUDGET, jsonBudgetProblem, type JsonBudget } from './jsonBudget';
import { ModelFolderError } from '../contract/manifest';

/** Makes the error thrown for `file` (ModelFolderError by default; the converter passes its CheckpointError). */
export type FileErrorFactory = (file: string, message: string, field?: string) => Error;

export interface BoundedRead {
  /** The most bytes the file may have. */
  limit: number;
  /** What names the file, for the message (e.g. "unmask.json files.tokenizer"). */
  namedBy?: string;
  /** The field the error carries (the manifest field that names the file). */
  field?: string;
  /** Whose limit it is, for the message (default "a model folder's file"). */
  limitOf?: string;
  error?: FileErrorFactory;
}

const folderError: FileErrorFactory = (file, message, field) => new ModelFolderError(file, message, field);

/** `n` bytes as people read it: 1 MiB, 64 MiB, 4 GiB. */
export function formatBytes(n: number): string {
  if (n >= 1024 ** 3 && n % 1024 ** 3 === 0) return `${n / 1024 ** 3} GiB`;
  if (n >= 1024 ** 2 && n % 1024 ** 2 === 0) return `${n / 1024 ** 2} MiB`;
  return `${n} bytes`;
}

function statOf(file: string): { ok: true; stat: fs.Stats } | { ok: false; code: string } {
  try {
    return { ok: true, stat: fs.statSync(file) };
  } catch (e) {
    return { ok: false, code: (e as NodeJS.ErrnoException).code ?? 'EIO' };
  }
}

/** What kind of thing a non-regular file is, for the message. */
function kindOf(stat: fs.Stats): string {
  return stat.isFIFO() ? 'a FIFO' : stat.isDirectory() ? 'a folder' : stat.isCharacterDevice() || stat.isBlockDevice() ? 'a device' : 'a socket';
}

/** A regular file within the limit (its size), or the error naming the file, what it is and the limit. */
export function checkRegularFile(file: string, o: BoundedRead): number {
  const error = o.error ?? folderError;
  const s = statOf(file);
  if (!s.ok) {
    const why = s.code === 'ENOENT' ? 'missing' : s.code === 'ELOOP' ? 'is a symlink loop' : `cannot be read (${s.code})`;
    throw error(file, `${why}${o.namedBy ? ` (named by ${o.namedBy})` : ''}`, o.field);
  }
  return checkStat(file, s.stat, o);
}

function checkStat(file: string, stat: fs.Stats, o: BoundedRead): number {
  const error = o.error ?? folderError;
  if (!stat.isFile()) {
    const kind = kindOf(stat);
    throw error(
      file,
      `is not a regular file (${kind === 'a device' || kind === 'a socket' ? 'a device or socket' : kind})${o.namedBy ? `; named by ${o.namedBy}` : ''}`,
      o.field,
    );
  }
  if (stat.size > o.limit) throw error(file, `is ${stat.size} bytes, ${overLimit(o)}`, o.field);
  return stat.size;
}

const overLimit = (o: BoundedRead) =>
  `more than the ${o.limit} bytes${o.limit >= 1024 ** 2 ? ` (${formatBytes(o.limit)})` : ''} ${o.limitOf ?? "a model folder's file"} may have here`;

/** The file's text (UTF-8): a regular file of at most `limit` bytes, read no further than that. */
export function readBoundedText(file: string, o: BoundedRead): string {
  return readBoundedBytes(file, o).toString('utf8');
}

/** The file's bytes: a regular file of at most `limit` bytes, read no further than that. */
export function readBoundedBytes(file: string, o: BoundedRead): Buffer {
  const error = o.error ?? folderError;
  checkRegularFile(file, o);
  let fd: number | undefined;
  try {
    // O_NONBLOCK: a FIFO put in its place since the check above does not block the open
    fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
    const size = checkStat(file, fs.fstatSync(fd), o); // what was opened, not what was checked
    const buffer = Buffer.alloc(Math.min(o.limit + 1, size + 1));
    let n = 0;
    for (let got = -1; got !== 0 && n < buffer.length;) n += got = fs.readSync(fd, buffer, n, buffer.length - n, null);
    if (n > o.limit) throw error(file, `grew past the limit while it was read: ${overLimit(o)}`, o.field);
    return buffer.subarray(0, n);
  } catch (e) {
    if (e instanceof Error && (e as NodeJS.ErrnoException).code === undefined) throw e;
    throw error(file, `cannot be read (${(e as NodeJS.ErrnoException).code})`, o.field);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * The file parsed as JSON: read as readBoundedText, then within `budget` before JSON.parse. A parse error names the
 * byte, never the file's content (a link may point at any file of the user's).
 */
export function readBoundedJson(file: string, o: BoundedRead & { budget?: JsonBudget }): unknown {
  const error = o.error ?? folderError;
  const text = readBoundedText(file, o);
  const over = jsonBudgetProblem(text, o.budget ?? JSON_BUDGET);
  if (over) throw error(file, `${over}: refused before parsing it`, o.field);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw error(file, `not valid JSON (${jsonProblem(e)})`, o.field);
  }
}

/** What JSON.parse objected to, without quoting the file's bytes (a link may point at any file). */
export function jsonProblem(e: unknown): string {
  const message = String((e as Error)?.message ?? e);
  const at = /position (\d+)/.exec(message);
  if (/end of JSON input|Unterminated/i.test(message)) return 'it ends early';
  return at ? `unexpected character at byte ${at[1]}` : 'unexpected content';
}
