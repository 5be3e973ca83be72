// Checks a model folder before Unmask uses it, so a wrong folder is refused with a reason and the model in use
// keeps working. The server checks the graph and tokenizer against the manifest when it loads. No `vscode` import.
// Nothing here may block the extension host (a FIFO, an endless file, a stalled
// mount), so reads are asynchronous, bounded in size, refused for anything but regular files, and raced
// against a deadline.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FILE_LIMITS } from './engine/bounds';
import { GRAPH } from './contract/graph';
import { withinJsonBudget } from './model/jsonBudget';
import { parseManifest } from './contract/manifest';

/** The most unmask.json may hold. */
const MANIFEST_LIMIT = FILE_LIMITS.manifest;

/** `~/x` → the home folder's x; other paths unchanged. */
export function expandHome(folder: string): string {
  return folder === '~' || folder.startsWith('~/') ? path.join(os.homedir(), folder.slice(1)) : folder;
}

/**
 * Undefined when the folder looks like a Unmask model; otherwise what is wrong with it, naming the file and field.
 * Never blocks the extension host, and answers within `timeoutMs` whatever the disk does.
 */
export async function checkModelFolderAsync(folder: string, timeoutMs = 5000): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`${folder} did not answer within ${timeoutMs / 1000} s (a stalled network or removable drive?)`), timeoutMs);
  });
  const stats = new Map<string, fs.Stats | string>();
  const texts = new Map<string, string>();
  const check = (async () => {
    // gather asynchronously what the synchronous rule needs, then apply it to what was gathered
    const manifestPath = path.join(folder, 'unmask.json');
    for (const p of [folder, manifestPath]) stats.set(p, await fs.promises.stat(p).catch((e: NodeJS.ErrnoException) => e.code ?? 'EIO'));
    const m = stats.get(manifestPath);
    if (typeof m === 'object' && m.isFile() && m.size <= MANIFEST_LIMIT) {
      const handle = await fs.promises.open(manifestPath, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
      try {
        const buffer = Buffer.alloc(MANIFEST_LIMIT + 1);
        let n = 0;
        for (let got = -1; got !== 0 && n < buffer.length;) n += got = (await handle.read(buffer, n, buffer.length - n, null)).bytesRead;
        texts.set(manifestPath, buffer.subarray(0, n).toString('utf8'));
      } finally {
        await handle.close();
      }
      const named = parseNames(texts.get(manifestPath)!);
      for (const file of named) {
        const p = path.join(folder, file);
        stats.set(p, await fs.promises.stat(p).catch((e: NodeJS.ErrnoException) => e.code ?? 'EIO'));
      }
    }
    return checkWith(
      folder,
      (p) => stats.get(p) ?? 'ENOENT',
      (p) => texts.get(p) ?? '',
    );
  })().catch((e: Error) => `${folder}: ${e.message}`);
  try {
    return await Promise.race([check, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** The files the manifest names (graph, its weights beside it, tokenizer), for the rule below to stat. */
function parseNames(text: string): string[] {
  try {
    const files = (JSON.parse(text) as { files?: Record<string, unknown> }).files;
    const named = files ? [files.model, files.tokenizer].filter((f): f is string => typeof f === 'string' && !f.includes('/') && !f.includes('\\')) : [];
    return typeof files?.model === 'string' ? [...named, GRAPH.weightsFile(files.model)] : named;
  } catch {
    return [];
  }
}

/** The rule, over a stat (an error code when it failed) and a reader of the manifest. */
function checkWith(folder: string, stat: (p: string) => fs.Stats | string, read: (p: string) => string): string | undefined {
  const s = stat(folder);
  if (typeof s === 'string') return s === 'ELOOP' ? `${folder} is a symlink loop` : `${folder} does not exist`;
  if (!s.isDirectory()) return `${folder} is not a folder`;
  const manifestPath = path.join(folder, 'unmask.json');
  const ms = stat(manifestPath);
  if (typeof ms === 'string') {
    return ms === 'ENOENT' ? `${folder} has no unmask.json (the model manifest)` : `${manifestPath} cannot be read (${ms === 'ELOOP' ? 'a symlink loop' : ms})`;
  }
  if (!ms.isFile()) return `${manifestPath} is not a regular file (${ms.isFIFO() ? 'a FIFO' : ms.isDirectory() ? 'a folder' : 'a device or socket'})`;
  if (ms.size > MANIFEST_LIMIT) return `${manifestPath} is ${ms.size} bytes, more than a manifest may have (${MANIFEST_LIMIT})`;
  // the loader's own parser: every field is checked here as the server will check it
  let files: { model: string; tokenizer: string };
  try {
    files = parseManifest(withinJsonBudget(read(manifestPath), manifestPath), manifestPath).files;
  } catch (error) {
    return (error as Error).message;
  }
  const named: [string, string][] = [
    ['files.model', files.model],
    ['files.model', GRAPH.weightsFile(files.model)],
    ['files.tokenizer', files.tokenizer],
  ];
  for (const [field, file] of named) {
    const fs_ = stat(path.join(folder, file));
    if (typeof fs_ === 'string') {
      return fs_ === 'ELOOP'
        ? `${manifestPath}: "${field}" names ${file}, which is a symlink loop`
        : `${manifestPath}: "${field}" names ${file}, which is not in ${folder}`;
    }
    if (!fs_.isFile()) return `${manifestPath}: "${field}" names ${file}, which is not a regular file`;
  }
  return undefined;
}
