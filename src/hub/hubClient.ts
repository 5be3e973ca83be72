// A small client of the Hugging Face Hub's two ordinary endpoints: the file list of a revision
// (`/api/models/REPO/revision/REV?blobs=true`) and the files themselves (`/REPO/resolve/REV/FILE`, which redirects
// large files to a CDN). Downloads are resumable (`FILE.part` kept, HTTP Range), verified (size; the LFS sha256, or
// the git blob id for small files) and cancellable. No `vscode` import: the CLI, the extension and the tests share it.
import { createHash, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';
/** Where a kept partial download lives next to its final name. */
export const PART_SUFFIX = '.part';

export interface HubOptions {
  /** Base URL of the Hub or a mirror; default `HF_ENDPOINT`, else huggingface.co. */
  endpoint?: string;
  /** Bearer token for gated or private repositories; default `HF_TOKEN`. */
  token?: string;
  /** An agent for every request (a proxy's); default node's global agents, which VS Code routes through its proxy settings. */
  agent?: http.Agent;
  /** Seconds without a byte before a request is given up (default 60). */
  idleTimeoutS?: number;
}

export interface HubFile {
  /** Path inside the repository (`rfilename`). */
  path: string;
  /** Bytes, when the Hub said. */
  size?: number;
  /** sha256 of an LFS file (`lfs.sha256`). */
  sha256?: string;
  /** git blob id (sha1 of `blob SIZE\0` + content) of a file kept in git itself. */
  blobId?: string;
}

export interface RepoListing {
  repo: string;
  /** The revision asked for (a branch, tag or commit). */
  revision: string;
  /** The commit it resolved to; files are fetched by this commit, so a branch moving mid-download changes nothing. */
  commit: string;
  files: HubFile[];
}

export type HubErrorKind = 'auth' | 'not-found' | 'http' | 'network' | 'integrity' | 'disk' | 'layout';

/** A failure that says what to do about it; `kind` lets callers offer the right action (e.g. store a token on 'auth'). */
export class HubError extends Error {
  constructor(
    readonly kind: HubErrorKind,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'HubError';
  }
}

/** The error of an aborted download: the name the editor's other cancellations carry. */
export function cancelled(): Error {
  const e = new Error('cancelled');
  e.name = 'Cancelled';
  return e;
}

export function endpointOf(options: HubOptions): string {
  return (options.endpoint ?? process.env.HF_ENDPOINT ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
}

function tokenOf(options: HubOptions): string | undefined {
  return options.token ?? (process.env.HF_TOKEN || undefined);
}

/** `owner/name`, the only repository form the Hub's model endpoints take. */
export function checkRepoId(repo: string): void {
  if (!/^[A-Za-z0-9][\w.-]*\/[\w.-]+$/.test(repo) || repo.includes('..')) {
    throw new HubError('layout', `"${repo}" is not a Hub repository id: expected OWNER/NAME (letters, digits, '-', '_', '.')`);
  }
}

const encodePath = (p: string) => p.split('/').map(encodeURIComponent).join('/');

export function fileUrl(options: HubOptions, repo: string, revision: string, file: string): string {
  return `${endpointOf(options)}/${repo}/resolve/${encodeURIComponent(revision)}/${encodePath(file)}`;
}

interface Response {
  res: http.IncomingMessage;
  url: string;
}

/**
 * GET with redirects followed (relative ones too). The token goes only to the endpoint's own origin: a CDN a file
 * redirects to gets a signed URL and must not see it.
 */
function get(url: string, headers: Record<string, string>, options: HubOptions, signal?: AbortSignal, hops = 8): Promise<Response> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(cancelled());
    const target = new URL(url);
    const token = tokenOf(options);
    const sameOrigin = target.origin === new URL(endpointOf(options)).origin;
    const lib = target.protocol === 'http:' ? http : https;
    const req = lib.get(
      target,
      {
        headers: { 'user-agent': 'unmask', ...headers, ...(token && sameOrigin ? { authorization: `Bearer ${token}` } : {}) },
        ...(options.agent ? { agent: options.agent } : {}),
        signal,
      },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 300 && status < 400 && res.headers.location) {
          res.resume();
          if (hops === 0) return reject(new HubError('http', `too many redirects fetching ${url}`));
          return get(new URL(res.headers.location, target).toString(), headers, options, signal, hops - 1).then(resolve, reject);
        }
        resolve({ res, url });
      },
    );
    req.setTimeout((options.idleTimeoutS ?? 60) * 1000, () =>
      req.destroy(new HubError('network', `no answer from ${target.host} for ${options.idleTimeoutS ?? 60} s`)),
    );
    req.on('error', (e: NodeJS.ErrnoException) => reject(networkError(e, url, signal)));
  });
}

function networkError(e: NodeJS.ErrnoException, url: string, signal?: AbortSignal): Error {
  if (signal?.aborted || e.name === 'AbortError') return cancelled();
  if (e instanceof HubError) return e;
  return new HubError(
    'network',
    `${new URL(url).host}: ${e.code ?? e.message}${e.code === 'ENOTFOUND' || e.code === 'ECONNREFUSED' ? ' (no connection to the Hub: check the network, HF_ENDPOINT or the proxy)' : ''}`,
  );
}

/** Turns a refusal into an error that says what to do; consumes the body (the Hub's own message, when short). */
async function refusal(res: http.IncomingMessage, repo: string, what: string): Promise<HubError> {
  const status = res.statusCode ?? 0;
  let body = '';
  for await (const chunk of res) if ((body += String(chunk)).length > 2000) break;
  const hubSays = (() => {
    try {
      return (JSON.parse(body) as { error?: string }).error;
    } catch {
      return body.trim().slice(0, 200) || undefined;
    }
  })();
  const code = res.headers['x-error-code'];
  const tail = hubSays ? ` (the Hub says: ${hubSays})` : '';
  if (status === 401) {
    return new HubError(
      'auth',
      `${repo} needs a Hugging Face token (${what} answered 401): it is gated or private, or does not exist. ` +
        'Accept its terms on its Hub page, then set HF_TOKEN (command line) or store a token with "Unmask: Get Model…" (editor)' +
        tail,
      status,
    );
  }
  if (status === 403) {
    return new HubError(
      'auth',
      `${repo}: the token has no access (${what} answered 403); accept the model's terms on its Hub page with the account the token belongs to${tail}`,
      status,
    );
  }
  if (status === 404) {
    const which = code === 'RevisionNotFound' ? 'that revision' : code === 'EntryNotFound' ? 'that file' : 'that repository or revision';
    return new HubError('not-found', `${repo}: the Hub has no ${which} (${what} answered 404)${tail}`, status);
  }
  return new HubError('http', `${repo}: ${what} answered HTTP ${status}${tail}`, status);
}

/** The file list of `repo` at `revision`, with sizes and hashes, and the commit the revision names. */
export async function listFiles(repo: string, revision: string, options: HubOptions = {}, signal?: AbortSignal): Promise<RepoListing> {
  checkRepoId(repo);
  const url = `${endpointOf(options)}/api/models/${repo}/revision/${encodeURIComponent(revision)}?blobs=true`;
  const { res } = await get(url, { accept: 'application/json' }, options, signal);
  if (res.statusCode !== 200) throw await refusal(res, repo, `the file list at ${url}`);
  let text = '';
  try {
    for await (const chunk of res) text += String(chunk);
  } catch (e) {
    throw networkError(e as NodeJS.ErrnoException, url, signal);
  }
  let body: { sha?: unknown; siblings?: unknown };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new HubError('http', `${url} did not answer JSON (is HF_ENDPOINT a Hub?)`);
  }
  if (!Array.isArray(body.siblings)) throw new HubError('http', `${url}: "siblings" must be the list of files`);
  const files = body.siblings.map((s: unknown, i): HubFile => {
    const o = s as { rfilename?: unknown; size?: unknown; blobId?: unknown; lfs?: { sha256?: unknown; size?: unknown } };
    if (typeof o?.rfilename !== 'string') throw new HubError('http', `${url}: "siblings[${i}].rfilename" must be a file name`);
    const size = typeof o.lfs?.size === 'number' ? o.lfs.size : typeof o.size === 'number' ? o.size : undefined;
    return {
      path: o.rfilename,
      ...(size !== undefined ? { size } : {}),
      ...(typeof o.lfs?.sha256 === 'string' ? { sha256: o.lfs.sha256.toLowerCase() } : typeof o.blobId === 'string' ? { blobId: o.blobId.toLowerCase() } : {}),
    };
  });
  const commit = typeof body.sha === 'string' && /^[0-9a-f]{40}$/i.test(body.sha) ? body.sha : revision;
  return { repo, revision, commit, files };
}

/** Files of a checkpoint the converter reads: the config, a tokenizer, the safetensors weights and their index. */
export const CONVERTER_FILES = {
  config: 'config.json',
  tokenizer: 'tokenizer.json',
  /** A slow (GPT-2 style) tokenizer, used when the repository has no tokenizer.json. */
  slowTokenizer: ['vocab.json', 'merges.txt'],
  /** Special tokens (the mask token among them) and added tokens; small, read when present. */
  tokenizerExtras: ['tokenizer_config.json', 'special_tokens_map.json', 'added_tokens.json'],
  weightsIndex: 'model.safetensors.index.json',
} as const;

/** Which files of a listing to download; refuses, naming the repository, what the converter cannot read. */
export function selectFiles(listing: RepoListing): HubFile[] {
  const byPath = new Map(listing.files.map((f) => [f.path, f]));
  const top = listing.files.filter((f) => !f.path.includes('/'));
  const pick: HubFile[] = [];
  const take = (name: string) => {
    const f = byPath.get(name);
    if (f) pick.push(f);
    return f;
  };
  const where = `${listing.repo} at ${listing.revision}`;
  if (!take(CONVERTER_FILES.config)) throw new HubError('layout', `${where} has no config.json: not a transformers checkpoint`);
  if (!take(CONVERTER_FILES.tokenizer)) {
    const missing = CONVERTER_FILES.slowTokenizer.filter((n) => !byPath.has(n));
    if (missing.length) throw new HubError('layout', `${where} has neither tokenizer.json nor ${missing.join(' and ')}: no tokenizer the converter can read`);
    for (const n of CONVERTER_FILES.slowTokenizer) take(n);
  }
  for (const n of CONVERTER_FILES.tokenizerExtras) take(n);
  const weights = top.filter((f) => f.path.endsWith('.safetensors'));
  if (weights.length === 0) {
    const other = top.find((f) => /\.(bin|pt|pth|gguf|ckpt)$/.test(f.path));
    throw new HubError('layout', `${where} has no .safetensors weights${other ? ` (only ${other.path})` : ''}: the converter reads safetensors only`);
  }
  take(CONVERTER_FILES.weightsIndex);
  pick.push(...weights);
  return pick;
}

export interface FileProgress {
  file: string;
  /** Bytes of this file on disk now (kept part included). */
  bytes: number;
  /** Bytes received over the network for this file in this call. */
  received: number;
}

export interface DownloadFileOptions extends HubOptions {
  signal?: AbortSignal;
  onData?: (p: FileProgress) => void;
  /** Opens the `.part` file for writing (append or truncate); tests inject a failing disk here. */
  openPart?: (partPath: string, append: boolean) => Writable;
}

/**
 * Downloads one file into `dir` (same relative path), resuming a kept `.part` with a Range request, and renames it
 * into place only once its size and hash are right. Returns the bytes received over the network.
 */
export async function downloadFile(repo: string, commit: string, file: HubFile, dir: string, options: DownloadFileOptions = {}): Promise<number> {
  const final = path.join(dir, ...file.path.split('/'));
  if (!path.resolve(final).startsWith(path.resolve(dir) + path.sep))
    throw new HubError('layout', `${repo}: refusing the file name ${JSON.stringify(file.path)}`);
  const done = await fs.promises.stat(final).catch(() => undefined);
  // a final name is only ever written by the rename after verification, so its size is enough to trust it
  if (done?.isFile() && (file.size === undefined || done.size === file.size)) return 0;
  await fs.promises.mkdir(path.dirname(final), { recursive: true });
  const part = final + PART_SUFFIX;
  let have = (await fs.promises.stat(part).catch(() => undefined))?.size ?? 0;
  if (file.size !== undefined && have > file.size) {
    await fs.promises.rm(part, { force: true });
    have = 0;
  }
  const url = fileUrl(options, repo, commit, file.path);
  let received = 0;
  let hash = newHash(file);
  if (have > 0 && hash) await hashExisting(hash, part, have);

  if (file.size === undefined || have < file.size) {
    const { res } = await get(url, have > 0 ? { range: `bytes=${have}-` } : {}, options, options.signal);
    const status = res.statusCode ?? 0;
    let append = false;
    if (status === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
      if (!m || Number(m[1]) !== have) {
        res.resume();
        throw new HubError('http', `${url}: asked for bytes from ${have}, the answer's Content-Range is ${res.headers['content-range'] ?? 'missing'}`);
      }
      append = true;
    } else if (status === 200) {
      // the server ignored the Range (or there was none): start over
      have = 0;
      hash = newHash(file);
    } else if (status === 416 && file.size !== undefined) {
      res.resume();
      await fs.promises.rm(part, { force: true });
      return downloadFile(repo, commit, file, dir, options);
    } else {
      throw await refusal(res, repo, url);
    }
    const expected = file.size ?? (append ? undefined : Number(res.headers['content-length'] ?? NaN));
    let bytes = have;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, callback) {
        hash?.update(chunk);
        bytes += chunk.length;
        received += chunk.length;
        options.onData?.({ file: file.path, bytes, received });
        callback(null, chunk);
      },
    });
    const sink = (options.openPart ?? openPart)(part, append);
    try {
      await pipeline(res, meter, sink, { signal: options.signal });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (options.signal?.aborted) throw cancelled();
      if (err.code === 'ENOSPC' || err.code === 'EDQUOT') {
        throw new HubError(
          'disk',
          `the disk is full writing ${part} (${bytes} of ${file.size ?? '?'} bytes); free some space and run again: the partial file is kept and the download resumes`,
        );
      }
      if (err.code === 'ERR_STREAM_PREMATURE_CLOSE' || err.code === 'ECONNRESET' || err.code === 'EPIPE' || err.message === 'aborted') {
        throw new HubError(
          'network',
          `the connection closed after ${bytes} of ${file.size ?? '?'} bytes of ${file.path}; run again to resume from there (the partial file is kept)`,
        );
      }
      if (err.syscall) throw new HubError('disk', `cannot write ${part}: ${err.code ?? err.message}`);
      throw networkError(err, url, options.signal);
    }
    if (expected !== undefined && Number.isFinite(expected) && bytes < expected) {
      throw new HubError(
        'network',
        `the connection closed after ${bytes} of ${expected} bytes of ${file.path}; run again to resume from there (the partial file is kept)`,
      );
    }
  }
  const size = (await fs.promises.stat(part)).size;
  if (file.size !== undefined && size !== file.size) {
    await fs.promises.rm(part, { force: true });
    throw new HubError('integrity', `${file.path}: got ${size} bytes, the file list says ${file.size}; the partial file was removed, run again`);
  }
  if (hash) {
    const got = hash.digest('hex');
    const want = file.sha256 ?? file.blobId;
    if (got !== want) {
      await fs.promises.rm(part, { force: true });
      throw new HubError(
        'integrity',
        `${file.path} does not match the Hub's ${file.sha256 ? 'sha256' : 'git blob id'}: expected ${want}, got ${got}; ` +
          'the download was removed and not used (a broken mirror or proxy?)',
      );
    }
  }
  await fs.promises.rename(part, final);
  return received;
}

function openPart(partPath: string, append: boolean): Writable {
  return fs.createWriteStream(partPath, { flags: append ? 'a' : 'w' });
}

/** A running hash for the file's check: sha256 for LFS files, git's blob sha1 for the rest, none when the Hub gave neither. */
function newHash(file: HubFile): Hash | undefined {
  if (file.sha256) return createHash('sha256');
  if (file.blobId && file.size !== undefined) return createHash('sha1').update(`blob ${file.size}\0`);
  return undefined;
}

async function hashExisting(hash: Hash, file: string, bytes: number): Promise<void> {
  for await (const chunk of fs.createReadStream(file, { start: 0, end: bytes - 1 })) hash.update(chunk as Buffer);
}

export interface DownloadProgress {
  /** The file being fetched now. */
  file: string;
  /** Bytes of the selected files on disk (kept parts included) and their total. */
  bytes: number;
  total: number;
  /** Bytes received over the network in this call. */
  received: number;
  /** Recent rate, bytes per second; 0 until measured. */
  rate: number;
  /** Seconds left at that rate; undefined until measured. */
  secondsLeft?: number;
}

export interface DownloadRepoOptions extends HubOptions {
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  openPart?: DownloadFileOptions['openPart'];
  /** How often a cut connection is resumed before giving up (default 3). */
  retries?: number;
}

/** Downloads `files` of `listing` into `dir`; returns the bytes received over the network in this call. */
export async function downloadFiles(listing: RepoListing, files: HubFile[], dir: string, options: DownloadRepoOptions = {}): Promise<number> {
  const total = files.reduce((n, f) => n + (f.size ?? 0), 0);
  const onDisk = new Map<string, number>();
  for (const f of files) onDisk.set(f.path, await sizeOnDisk(dir, f));
  const meter = rateMeter();
  let received = 0;
  let current = 0; // received for the file being fetched, not yet added to `received`
  const report = (file: string) => {
    const bytes = [...onDisk.values()].reduce((a, b) => a + b, 0);
    const rate = meter.rate();
    options.onProgress?.({ file, bytes, total, received: received + current, rate, ...(rate > 0 ? { secondsLeft: Math.max(0, total - bytes) / rate } : {}) });
  };
  for (const file of files) {
    for (let attempt = 0; ; attempt++) {
      current = 0;
      try {
        await downloadFile(listing.repo, listing.commit, file, dir, {
          ...options,
          onData: (p) => {
            meter.add(p.received - current);
            current = p.received;
            onDisk.set(file.path, p.bytes);
            report(file.path);
          },
        });
        received += current;
        current = 0;
        onDisk.set(file.path, file.size ?? onDisk.get(file.path) ?? 0);
        report(file.path);
        break;
      } catch (e) {
        received += current;
        current = 0;
        if (!(e instanceof HubError && e.kind === 'network') || attempt >= (options.retries ?? 3)) {
          if (e instanceof Error) (e as Error & { received?: number }).received = received;
          throw e;
        }
        await delay(1000 * 2 ** attempt, options.signal);
      }
    }
  }
  return received;
}

async function sizeOnDisk(dir: string, f: HubFile): Promise<number> {
  const final = path.join(dir, ...f.path.split('/'));
  const s = await fs.promises.stat(final).catch(() => undefined);
  if (s?.isFile()) return s.size;
  return (await fs.promises.stat(final + PART_SUFFIX).catch(() => undefined))?.size ?? 0;
}

/** Bytes per second over the last few seconds. */
function rateMeter(windowMs = 5000): { add(n: number): void; rate(): number } {
  const samples: [number, number][] = [];
  return {
    add(n) {
      const now = Date.now();
      samples.push([now, n]);
      while (samples.length > 1 && now - samples[0][0] > windowMs) samples.shift();
    },
    rate() {
      if (samples.length < 2) return 0;
      const span = (samples[samples.length - 1][0] - samples[0][0]) / 1000;
      return span > 0 ? samples.slice(1).reduce((n, s) => n + s[1], 0) / span : 0;
    },
  };
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(cancelled());
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(cancelled());
      },
      { once: true },
    );
  });
}
