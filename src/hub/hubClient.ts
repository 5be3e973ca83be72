// A small client of the Hugging Face Hub's two ordinary endpoints: the file list of a revision
// (`/api/models/REPO/revision/REV?blobs=true`) and the files themselves (`/REPO/resolve/REV/FILE`, which redirects
// large files to a CDN), whole or a byte range of them (the safetensors headers read before a download). Downloads
// are resumable (a kept partial file, HTTP Range), verified (size; the LFS sha256, or the git blob id for small files)
// and cancellable; hfCache.ts places them in the Hugging Face cache's layout. No `vscode` import: the CLI, the
// extension and the tests share it.
//
// Why this client and not `@huggingface/hub` (huggingface.js), which has snapshotDownload, downloadFileToCacheDir and
// scanCacheDir for the same cache: what Get Model needs here is what that package leaves to its caller or does not
// document — a stall watch (a drip of a byte a second is dropped in seconds), Retry-After honoured within limits, a
// file list bounded before it is parsed, the token kept from the CDN a file redirects to, the size and sha256 / git
// blob id checked before a file is used, resume of a partial file (huggingface_hub's `.incomplete` name, so either
// tool resumes the other's), Range reads of the safetensors headers before the download, progress with a rate, an
// AbortSignal, and the requests on node's own https so that VS Code's proxy settings apply. The package would add a
// dependency (and its fetch-based transport) to the VSIX for the part that is simplest here: the cache's layout
// (blobs/, snapshots/COMMIT/ links, refs/), about a hundred lines in hfCache.ts, checked against huggingface_hub's
// own snapshot_download and scan_cache_dir in test/unit/hub/hfCache.test.ts.
import { createHash, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CancelledError } from '../engine/types';
import { jsonBudgetProblem } from '../model/jsonBudget';
import catalog from './catalog.json';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';
/** Where a kept partial download lives next to its final name. */
export const PART_SUFFIX = '.part';
/** The most bytes a file list may take: a large repository's is a few MB; 100 MB of `[` took 5.5 GB to parse. */
export const LISTING_MAX_BYTES = 16 * 1024 * 1024;
/** A transfer that brings fewer than this many bytes in a stall window is dropped (a drip of a byte a second too). */
export const STALL_MIN_BYTES = 1024;
/** Seconds of the stall window (HubOptions.stallTimeoutS): a stalled download fails within 10 s (reliability round 3). */
export const STALL_TIMEOUT_S = 8;
/** How often a 429 or 503 with Retry-After is asked again, and the longest wait honoured. */
export const BUSY_RETRIES = 3;
export const RETRY_AFTER_MAX_S = 30;

export interface HubOptions {
  /** Base URL of the Hub or a mirror; default `HF_ENDPOINT`, else huggingface.co. */
  endpoint?: string;
  /** Bearer token for gated or private repositories; default `HF_TOKEN`, else the token file (hfToken). */
  token?: string;
  /** An agent for every request (a proxy's); default node's global agents, which VS Code routes through its proxy settings. */
  agent?: http.Agent;
  /** Seconds without an answer before a request is given up (default 60). */
  idleTimeoutS?: number;
  /**
   * Seconds of the stall window: a body (a file or the file list) that brings fewer than STALL_MIN_BYTES in one is
   * dropped as a 'network' error, which downloadFiles resumes (default STALL_TIMEOUT_S; tests use a fraction).
   */
  stallTimeoutS?: number;
  /** How often a 429/503 answer with Retry-After is asked again (default BUSY_RETRIES) and the longest wait (RETRY_AFTER_MAX_S). */
  busyRetries?: number;
  retryAfterMaxS?: number;
  /**
   * What an unreachable Hub's message suggests about the network: the extension's requests follow VS Code's proxy
   * settings, the command line's connect directly (default: the command line's).
   */
  networkHint?: string;
}

/** The command line's advice when the Hub cannot be reached: it connects directly, without a proxy. */
export const CLI_NETWORK_HINT =
  'no connection to the Hub: check the network and HF_ENDPOINT (the command line connects directly, without a proxy; ' +
  'where only a proxy reaches the Hub, use "Unmask: Get Model…" in VS Code, which follows its proxy settings, or set HF_ENDPOINT to a mirror you can reach)';

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

export type HubErrorKind = 'auth' | 'not-found' | 'http' | 'network' | 'integrity' | 'disk' | 'layout' | 'busy';

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

/** A transfer dropped because it stalled (stallWatch); a 'network' error that downloadFiles does not retry. */
class StalledError extends HubError {
  constructor(message: string) {
    super('network', message);
  }
}

export function endpointOf(options: HubOptions): string {
  return (options.endpoint ?? process.env.HF_ENDPOINT ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
}

function tokenOf(options: HubOptions): string | undefined {
  return options.token ?? hfToken();
}

/** `HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface` (huggingface_hub's rule). */
export function hfHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.HF_HOME || path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'huggingface');
}

/**
 * The Hugging Face token as huggingface_hub finds it: `HF_TOKEN`, else the file `HF_TOKEN_PATH`, else `HF_HOME/token`
 * (what `hf auth login` writes); undefined when there is none.
 */
export function hfToken(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.HF_TOKEN?.trim()) return env.HF_TOKEN.trim();
  const file = env.HF_TOKEN_PATH || path.join(hfHome(env), 'token');
  try {
    const st = fs.statSync(file);
    if (!st.isFile() || st.size > 4096) return undefined;
    return fs.readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * What is wrong with `repo` as a Hub repository id, or undefined when it is one: `owner/name`, the only repository form
 * the Hub's model endpoints take, the owner led by a letter or digit, no `..`. The one check of a repository id: Get
 * Model's (checkRepoId) and the editor's input box (src/editor/hubCommands.ts) both use it.
 */
export function repoIdProblem(repo: string): string | undefined {
  if (!/^[A-Za-z0-9][\w.-]*\/[\w.-]+$/.test(repo) || repo.includes('..')) return "expected OWNER/NAME (letters, digits, '-', '_', '.')";
  return undefined;
}

/** Throws a 'layout' HubError unless `repo` is a Hub repository id (repoIdProblem). */
export function checkRepoId(repo: string): void {
  const problem = repoIdProblem(repo);
  if (problem) throw new HubError('layout', `"${repo}" is not a Hub repository id: ${problem}`);
}

/** A full git commit id, as the Hub's listing gives it in `sha`. */
export const COMMIT_RE = /^[0-9a-f]{40}$/i;

/** Throws unless `commit` is a full commit id (40 hex digits); `what` says where it came from. */
export function checkCommit(commit: unknown, what: string): string {
  if (typeof commit !== 'string' || !COMMIT_RE.test(commit)) {
    const shown = typeof commit === 'string' ? JSON.stringify(commit.slice(0, 80)) : String(commit);
    throw new HubError('layout', `${what}: the commit id must be 40 hex digits, got ${shown}; it names the download folder, so nothing was downloaded`);
  }
  return commit.toLowerCase();
}

/**
 * Throws unless `revision` is a branch, tag or commit name that is safe as a URL segment and a path: letters, digits,
 * `._-/`, no `..`, no empty or dot-led component, no leading or trailing `/`, at most 200 characters (the Hub's refs
 * look like `main`, `v1.0`, `refs/pr/3` or a commit id).
 */
export function checkRevision(revision: string, what = '--revision'): string {
  const ok =
    revision.length > 0 &&
    revision.length <= 200 &&
    /^[A-Za-z0-9._/-]+$/.test(revision) &&
    !revision.includes('..') &&
    !revision.startsWith('/') &&
    !revision.endsWith('/') &&
    !revision.endsWith('.lock') &&
    revision.split('/').every((part) => part.length > 0 && !part.startsWith('.') && !part.startsWith('-'));
  if (!ok) {
    throw new HubError(
      'layout',
      `${what} ${JSON.stringify(revision.slice(0, 80))} is not a revision: expected a branch, tag or commit id ` +
        "(letters, digits, '.', '_', '-', '/'; no '..', no leading '/', no backslash)",
    );
  }
  return revision;
}

/** `url` without user name and password (HF_ENDPOINT=https://user:pass@host): for origin.json and messages. */
export function withoutCredentials(url: string): string {
  try {
    const u = new URL(url);
    if (!u.username && !u.password) return url;
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/+$/, '');
  } catch {
    return url.replace(/\/\/[^/@]*@/, '//');
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
    if (signal?.aborted) return reject(new CancelledError('cancelled'));
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
    req.on('error', (e: NodeJS.ErrnoException) => reject(networkError(e, url, signal, options)));
  });
}

function networkError(e: NodeJS.ErrnoException, url: string, signal?: AbortSignal, options: HubOptions = {}): Error {
  // node's own abort (an AbortError from the request's signal) becomes the one cancellation error here
  if (signal?.aborted || e.name === 'AbortError') return new CancelledError('cancelled');
  if (e instanceof HubError) return e;
  const unreachable = ['ENOTFOUND', 'ECONNREFUSED', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH'].includes(e.code ?? '');
  return new HubError('network', `${new URL(url).host}: ${e.code ?? e.message}${unreachable ? ` (${options.networkHint ?? CLI_NETWORK_HINT})` : ''}`);
}

/** Turns a refusal into an error that says what to do; consumes the body (the Hub's own message, when short). */
async function refusal(res: http.IncomingMessage, repo: string, what: string): Promise<HubError> {
  const status = res.statusCode ?? 0;
  const chunks: Buffer[] = [];
  let got = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    if ((got += chunk.length) > 2000) break;
  }
  const body = Buffer.concat(chunks).subarray(0, 2000).toString('utf8');
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
    const answered = `(${what} answered 404)${tail}`;
    if (code === 'RevisionNotFound') {
      return new HubError(
        'not-found',
        `${repo}: the Hub has no such revision of this repository ${answered}; check --revision (a branch, tag or commit of it)`,
        status,
      );
    }
    if (code === 'EntryNotFound') return new HubError('not-found', `${repo}: the Hub has no such file in this repository ${answered}`, status);
    return new HubError(
      'not-found',
      `${repo}: the Hub has no such repository or revision ${answered}. Check the name on its Hub page (a private repository ` +
        `answers 404 too when no token is sent: set HF_TOKEN), or get one of the catalog's code diffusion models: ${catalogNames()}`,
      status,
    );
  }
  if (status === 429 || status === 503) {
    const wait = res.headers['retry-after'];
    return new HubError(
      'busy',
      `${repo}: ${what} answered HTTP ${status} (the server is busy${wait ? `; Retry-After: ${String(wait).slice(0, 40)}` : ''}); ` +
        `Unmask asks again at most ${BUSY_RETRIES} times and waits at most ${RETRY_AFTER_MAX_S} s each time: try again later${tail}`,
      status,
    );
  }
  return new HubError('http', `${repo}: ${what} answered HTTP ${status}${tail}`, status);
}

/** The catalog's models as a suggestion: `NAME (OWNER/REPO)`, comma-separated. */
export function catalogNames(): string {
  return catalog.models.map((m) => `${m.name} (${m.repo})`).join(', ');
}

/** Seconds a Retry-After header asks for (seconds or an HTTP date), or undefined when there is none or it is unreadable. */
function retryAfterS(header: string | string[] | undefined): number | undefined {
  const v = (Array.isArray(header) ? header[0] : header)?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Number(v);
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(0, Math.ceil((at - Date.now()) / 1000)) : undefined;
}

/**
 * get(), asking again when the answer is 429 or 503 with a Retry-After the server is honoured for: at most
 * `busyRetries` times, each wait at most `retryAfterMaxS` (a longer one is not waited for). The last answer, busy or
 * not, is the caller's to judge.
 */
async function getAnswer(url: string, headers: Record<string, string>, options: HubOptions, signal?: AbortSignal): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    const got = await get(url, headers, options, signal);
    const status = got.res.statusCode ?? 0;
    if (status !== 429 && status !== 503) return got;
    const wait = retryAfterS(got.res.headers['retry-after']);
    if (wait === undefined || wait > (options.retryAfterMaxS ?? RETRY_AFTER_MAX_S) || attempt >= (options.busyRetries ?? BUSY_RETRIES)) return got;
    got.res.resume();
    await delay(wait * 1000, signal);
  }
}

/**
 * Drops a body that stalls: when fewer than STALL_MIN_BYTES were counted (`add`) in a window of `stallTimeoutS`,
 * `res` is destroyed with a 'network' HubError saying `what()`. Node's socket timeout alone misses a server that
 * drips a byte a second.
 */
function stallWatch(res: http.IncomingMessage, options: HubOptions, what: () => string, todo: string): { add(n: number): void; stop(): void } {
  const seconds = options.stallTimeoutS ?? STALL_TIMEOUT_S;
  let got = 0;
  const timer = setInterval(() => {
    if (got < STALL_MIN_BYTES) {
      clearInterval(timer);
      res.destroy(new StalledError(`${what()}: fewer than ${STALL_MIN_BYTES} bytes arrived in ${seconds} s, the connection was dropped as stalled; ${todo}`));
    }
    got = 0;
  }, seconds * 1000);
  timer.unref();
  return {
    add: (n) => void (got += n),
    stop: () => clearInterval(timer),
  };
}

/** The file list of `repo` at `revision`, with sizes and hashes, and the commit the revision names. */
export async function listFiles(repo: string, revision: string, options: HubOptions = {}, signal?: AbortSignal): Promise<RepoListing> {
  checkRepoId(repo);
  checkRevision(revision);
  const url = `${endpointOf(options)}/api/models/${repo}/revision/${encodeURIComponent(revision)}?blobs=true`;
  const shown = withoutCredentials(url);
  const { res } = await getAnswer(url, { accept: 'application/json' }, options, signal);
  if (res.statusCode !== 200) throw await refusal(res, repo, `the file list at ${shown}`);
  const text = await readListing(res, shown, options, signal);
  const problem = jsonBudgetProblem(text);
  if (problem) throw new HubError('http', `the file list at ${shown} ${problem}: refused before parsing it (is HF_ENDPOINT a Hub?)`);
  let body: { sha?: unknown; siblings?: unknown };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new HubError('http', `${shown} did not answer JSON (is HF_ENDPOINT a Hub?)`);
  }
  if (body === null || typeof body !== 'object') throw new HubError('http', `${shown} did not answer a JSON object (is HF_ENDPOINT a Hub?)`);
  if (!Array.isArray(body.siblings)) throw new HubError('http', `${shown}: "siblings" must be the list of files`);
  const files = body.siblings.map((s: unknown, i): HubFile => {
    const o = s as { rfilename?: unknown; size?: unknown; blobId?: unknown; lfs?: { sha256?: unknown; size?: unknown } };
    if (typeof o?.rfilename !== 'string') throw new HubError('http', `${shown}: "siblings[${i}].rfilename" must be a file name`);
    const size = typeof o.lfs?.size === 'number' ? o.lfs.size : typeof o.size === 'number' ? o.size : undefined;
    return {
      path: o.rfilename,
      ...(size !== undefined ? { size } : {}),
      ...(typeof o.lfs?.sha256 === 'string' ? { sha256: o.lfs.sha256.toLowerCase() } : typeof o.blobId === 'string' ? { blobId: o.blobId.toLowerCase() } : {}),
    };
  });
  // the commit names the download folder: it must be a commit id, whatever the listing or the revision say
  const commit = body.sha === undefined && COMMIT_RE.test(revision) ? revision.toLowerCase() : checkCommit(body.sha, `the file list at ${shown}, "sha"`);
  if (COMMIT_RE.test(revision) && commit !== revision.toLowerCase()) {
    throw new HubError('http', `the file list at ${shown} is of commit ${commit}, not of the commit ${revision} asked for (is HF_ENDPOINT a Hub?)`);
  }
  return { repo, revision, commit, files };
}

/**
 * The body of a file list as text: at most LISTING_MAX_BYTES, read while streaming (a declared or a streamed
 * larger size stops it), dropped when it stalls, and decoded as one buffer (a character split between chunks stays
 * whole).
 */
async function readListing(res: http.IncomingMessage, shown: string, options: HubOptions, signal?: AbortSignal): Promise<string> {
  const tooBig = () =>
    new HubError(
      'http',
      `the file list at ${shown} is larger than ${LISTING_MAX_BYTES / 1024 / 1024} MiB, the limit for a file list (a large repository's is a few MB): ` +
        'refused before parsing it; is HF_ENDPOINT a Hub?',
    );
  if (Number(res.headers['content-length']) > LISTING_MAX_BYTES) {
    res.destroy();
    throw tooBig();
  }
  const chunks: Buffer[] = [];
  let bytes = 0;
  const watch = stallWatch(res, options, () => `the file list at ${shown} (after ${bytes} bytes)`, 'run again later');
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      watch.add(chunk.length);
      if ((bytes += chunk.length) > LISTING_MAX_BYTES) throw tooBig();
      chunks.push(chunk);
    }
  } catch (e) {
    res.destroy();
    throw e instanceof HubError ? e : networkError(e as NodeJS.ErrnoException, shown, signal, options);
  } finally {
    watch.stop();
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks, bytes));
  } catch {
    throw new HubError('http', `the file list at ${shown} is not UTF-8 text (is HF_ENDPOINT a Hub?)`);
  }
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
  /**
   * Where a file goes and where its partial download is kept (default: DIR/PATH and DIR/PATH.part); hfCache.ts puts
   * them in the Hugging Face cache's blobs/ (its `.incomplete` name, so huggingface_hub resumes it too).
   */
  placeAt?: (file: HubFile) => Placement;
}

export interface Placement {
  final: string;
  part: string;
}

function placementOf(dir: string, file: HubFile, options: { placeAt?: (file: HubFile) => Placement }): Placement {
  if (options.placeAt) return options.placeAt(file);
  const final = path.join(dir, ...file.path.split('/'));
  return { final, part: final + PART_SUFFIX };
}

/**
 * Downloads one file into `dir` (same relative path), resuming a kept `.part` with a Range request, and renames it
 * into place only once its size and hash are right. Returns the bytes received over the network.
 */
export async function downloadFile(repo: string, commit: string, file: HubFile, dir: string, options: DownloadFileOptions = {}): Promise<number> {
  const { final, part } = placementOf(dir, file, options);
  if (!options.placeAt && !path.resolve(final).startsWith(path.resolve(dir) + path.sep))
    throw new HubError('layout', `${repo}: refusing the file name ${JSON.stringify(file.path)}`);
  const done = await fs.promises.stat(final).catch(() => undefined);
  // a final name is only ever written by the rename after verification, so its size is enough to trust it
  if (done?.isFile() && (file.size === undefined || done.size === file.size)) return 0;
  await fs.promises.mkdir(path.dirname(final), { recursive: true });
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
    const { res } = await getAnswer(url, have > 0 ? { range: `bytes=${have}-` } : {}, options, options.signal);
    const status = res.statusCode ?? 0;
    let append = false;
    if (status === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
      if (!m || Number(m[1]) !== have) {
        res.resume();
        throw new HubError(
          'http',
          `${withoutCredentials(url)}: asked for bytes from ${have}, the answer's Content-Range is ${res.headers['content-range'] ?? 'missing'}`,
        );
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
      throw await refusal(res, repo, withoutCredentials(url));
    }
    const expected = file.size ?? (append ? undefined : Number(res.headers['content-length'] ?? NaN));
    // the most bytes this file may have: the listed size, else what the answer announced
    const announced = append ? Number(/\/(\d+)$/.exec(String(res.headers['content-range']))?.[1] ?? NaN) : expected;
    const limit = file.size ?? (announced !== undefined && Number.isFinite(announced) ? announced : undefined);
    let bytes = have;
    let oversize: HubError | undefined;
    const watch = stallWatch(
      res,
      options,
      () => `${file.path} (at ${bytes} of ${file.size ?? '?'} bytes)`,
      'run again to resume from there (the partial file is kept)',
    );
    const meter = new Transform({
      transform(chunk: Buffer, _enc, callback) {
        watch.add(chunk.length);
        if (limit !== undefined && bytes + chunk.length > limit) {
          oversize = new HubError(
            'integrity',
            `${file.path}: the server sent more than the ${limit} bytes ${file.size !== undefined ? 'the file list says' : 'it announced'}; ` +
              'the download was stopped there and the partial file removed, nothing of it is used (a broken mirror or proxy?)',
          );
          return callback(oversize);
        }
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
      if (options.signal?.aborted) throw new CancelledError('cancelled');
      if (oversize) {
        await fs.promises.rm(part, { force: true });
        throw oversize;
      }
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
      throw networkError(err, url, options.signal, options);
    } finally {
      watch.stop();
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
  placeAt?: DownloadFileOptions['placeAt'];
  /** Called once a file is complete and verified (or was already), with where it lies: hfCache.ts links it into the snapshot. */
  afterFile?: (file: HubFile, final: string) => Promise<void>;
  /** How often a cut connection is resumed before giving up (default 3). */
  retries?: number;
}

/** Downloads `files` of `listing` into `dir`; returns the bytes received over the network in this call. */
export async function downloadFiles(listing: RepoListing, files: HubFile[], dir: string, options: DownloadRepoOptions = {}): Promise<number> {
  const total = files.reduce((n, f) => n + (f.size ?? 0), 0);
  const onDisk = new Map<string, number>();
  for (const f of files) onDisk.set(f.path, await sizeOnDisk(placementOf(dir, f, options)));
  const meter = rateMeter();
  let received = 0;
  let current = 0; // received for the file being fetched, not yet added to `received`
  const report = (file: string) => {
    const bytes = [...onDisk.values()].reduce((a, b) => a + b, 0);
    const rate = meter.rate();
    options.onProgress?.({ file, bytes, total, received: received + current, rate, ...(rate > 0 ? { secondsLeft: Math.max(0, total - bytes) / rate } : {}) });
  };
  for (const file of files) {
    const place = placementOf(dir, file, options);
    const complete = (await fs.promises.stat(place.final).catch(() => undefined))?.isFile() && (file.size === undefined || onDisk.get(file.path) === file.size);
    // the first line names the file being fetched now, not one already on disk (a resume's first line named the last file done)
    if (!complete) report(file.path);
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
        if (!complete) report(file.path);
        await options.afterFile?.(file, place.final);
        break;
      } catch (e) {
        received += current;
        current = 0;
        // a stalled server is not asked again at once: the run fails in seconds, and the next run resumes the file
        if (!(e instanceof HubError && e.kind === 'network') || e instanceof StalledError || attempt >= (options.retries ?? 3)) {
          if (e instanceof Error) (e as Error & { received?: number }).received = received;
          throw e;
        }
        await delay(1000 * 2 ** attempt, options.signal);
      }
    }
  }
  return received;
}

async function sizeOnDisk(place: Placement): Promise<number> {
  const s = await fs.promises.stat(place.final).catch(() => undefined);
  if (s?.isFile()) return s.size;
  return (await fs.promises.stat(place.part).catch(() => undefined))?.size ?? 0;
}

/** The most bytes readRange reads: a safetensors header is at most this much (CHECKPOINT_FILE_LIMITS.safetensorsHeader is 100 MB; real ones are under 1 MB). */
export const RANGE_MAX_BYTES = 100 * 1024 * 1024;

/**
 * Bytes `start` … `start + length − 1` of a file at `commit` (an HTTP Range request; a server that ignores the Range
 * and answers the whole file is read only that far, then dropped). Returns fewer bytes only when the file is shorter.
 */
export async function readRange(
  repo: string,
  commit: string,
  file: string,
  start: number,
  length: number,
  options: HubOptions & { signal?: AbortSignal } = {},
): Promise<Buffer> {
  if (!(length > 0) || length > RANGE_MAX_BYTES) throw new HubError('http', `${repo}: ${file}: refusing to read ${length} bytes of a header`);
  const url = fileUrl(options, repo, commit, file);
  const { res } = await getAnswer(url, { range: `bytes=${start}-${start + length - 1}` }, options, options.signal);
  const status = res.statusCode ?? 0;
  if (status === 416) {
    res.resume();
    return Buffer.alloc(0);
  }
  if (status !== 206 && status !== 200) throw await refusal(res, repo, withoutCredentials(url));
  let skip = status === 200 ? start : 0; // a whole-file answer: its first `start` bytes are not wanted
  const chunks: Buffer[] = [];
  let got = 0;
  const watch = stallWatch(res, options, () => `${file} (a Range read, after ${got} bytes)`, 'run again later');
  try {
    for await (let chunk of res as AsyncIterable<Buffer>) {
      watch.add(chunk.length);
      if (skip > 0) {
        const drop = Math.min(skip, chunk.length);
        skip -= drop;
        chunk = chunk.subarray(drop);
      }
      chunks.push(chunk.subarray(0, length - got));
      got += Math.min(chunk.length, length - got);
      if (got >= length) break;
    }
  } catch (e) {
    throw e instanceof HubError ? e : networkError(e as NodeJS.ErrnoException, url, options.signal, options);
  } finally {
    watch.stop();
    res.destroy();
  }
  return Buffer.concat(chunks, got);
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
    if (signal?.aborted) return reject(new CancelledError('cancelled'));
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(new CancelledError('cancelled'));
      },
      { once: true },
    );
  });
}
