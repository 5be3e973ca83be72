// A real HTTP server on 127.0.0.1 that answers as the Hugging Face Hub does for the two endpoints Unmask uses:
// the file list (`/api/models/REPO/revision/REV?blobs=true`: sizes, git blob ids, LFS sha256) and
// `/REPO/resolve/REV/FILE`, which redirects LFS files (302) to a second path that honours Range (206) and sends an
// ETag, with `X-Repo-Commit`. Repositories are folders on disk in the Hub's layout. It can gate a repository behind a
// token, cut the connection once mid-file, and lie about a hash; it logs every request and the body bytes it sent.
import { spawn, type SpawnOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { copyTinyCheckpoints } from '../tinyCheckpoints';

/**
 * Every test process that talks to the fake Hub gets a Hugging Face home of its own (HF_HOME, a temporary folder, and
 * neither HF_HUB_CACHE nor a token), so that Get Model never reads or writes the user's ~/.cache/huggingface. Child
 * processes (npm run get-model, Python's huggingface_hub) inherit it.
 */
export const TEST_HF_HOME = fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-hf-home-'));
process.env.HF_HOME = TEST_HF_HOME;
for (const name of ['HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE', 'HF_TOKEN', 'HF_TOKEN_PATH', 'HF_HUB_OFFLINE']) delete process.env[name];
process.on('exit', () => fs.rmSync(TEST_HF_HOME, { recursive: true, force: true }));

export interface FakeRepo {
  dir: string;
  commit: string;
  /** Requests need `Authorization: Bearer <token>`. */
  token?: string;
  /** File list entries to announce a wrong sha256 for. */
  wrongSha256?: string[];
}

export interface Served {
  /** GET, or HEAD (huggingface_hub asks for a file's metadata first): a HEAD's body bytes are not sent, nor counted. */
  method: string;
  path: string;
  status: number;
  range?: string;
  authorization?: string;
  /** Body bytes written. */
  bytes: number;
}

/** LFS files, as the Hub stores them: weights and the large tokenizer. */
const isLfs = (file: string) => file.endsWith('.safetensors') || file === 'tokenizer.json';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const blobId = (data: Buffer) => createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');

export class FakeHub {
  readonly repos = new Map<string, FakeRepo>();
  readonly log: Served[] = [];
  /** Cut the connection once after this many body bytes of this file. */
  cut?: { file: string; after: number };
  /** Wait this long before each file body (so that an editor test sees the progress notification). */
  delayMs = 0;
  /**
   * Answers a request instead of the Hub when it returns true (the request is logged first): the fault tests' hostile
   * servers (a file larger than listed, a drip, 429 with Retry-After, a listing of brackets).
   */
  intercept?: (req: http.IncomingMessage, res: http.ServerResponse, url: URL, entry: Served) => boolean;
  private server = http.createServer((req, res) => this.handle(req, res));
  /** The CDN that LFS files redirect to: another origin, as on the real Hub, so it must not get the token. */
  private cdnServer = http.createServer((req, res) => this.handle(req, res));

  /** Listens on 127.0.0.1: the Hub on `port` (0: any free one), its CDN on any free port. */
  async start(port = 0): Promise<string> {
    for (const [s, p] of [
      [this.server, port],
      [this.cdnServer, 0],
    ] as const)
      await new Promise<void>((resolve) => s.listen(p, '127.0.0.1', resolve));
    return this.endpoint;
  }

  private get cdnOrigin(): string {
    return `http://127.0.0.1:${(this.cdnServer.address() as AddressInfo).port}`;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const s of [this.server, this.cdnServer]) {
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
  }

  bytesSent(file: string): number {
    return this.log.filter((l) => l.path.endsWith(`/${file}`)).reduce((n, l) => n + l.bytes, 0);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', this.endpoint);
    const entry: Served = {
      method: req.method ?? 'GET',
      path: url.pathname,
      status: 0,
      bytes: 0,
      ...(req.headers.range ? { range: req.headers.range } : {}),
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    };
    this.log.push(entry);
    if (this.intercept?.(req, res, url, entry)) return;
    const send = (status: number, body: string | Buffer, headers: http.OutgoingHttpHeaders = {}) => {
      entry.status = status;
      res.writeHead(status, headers);
      if (req.method !== 'HEAD') entry.bytes += typeof body === 'string' ? Buffer.byteLength(body) : body.length;
      res.end(body);
    };
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(url.pathname);
    // the tree listing huggingface_hub's snapshot_download reads (the reference client of the tests)
    const tree = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)$/.exec(url.pathname);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const cdn = /^\/cdn\/([^/]+\/[^/]+)\/(.+)$/.exec(url.pathname);
    const repoId = decodeURIComponent((api ?? tree ?? resolve ?? cdn)?.[1] ?? '');
    const repo = this.repos.get(repoId);
    if (!repo) return send(404, JSON.stringify({ error: 'Repository not found' }), { 'x-error-code': 'RepoNotFound', 'content-type': 'application/json' });
    if (repo.token && req.headers.authorization !== `Bearer ${repo.token}` && !cdn) {
      return send(401, JSON.stringify({ error: 'Access to this model is restricted: you must be authenticated.' }), {
        'x-error-code': 'GatedRepo',
        'content-type': 'application/json',
      });
    }
    const revision = decodeURIComponent((api ?? tree ?? resolve)?.[2] ?? repo.commit);
    if ((api || tree || resolve) && revision !== 'main' && revision !== repo.commit) {
      return send(404, JSON.stringify({ error: `Invalid rev id: ${revision}` }), { 'x-error-code': 'RevisionNotFound', 'content-type': 'application/json' });
    }
    if (api) return send(200, JSON.stringify({ id: repoId, sha: repo.commit, siblings: this.siblings(repo) }), { 'content-type': 'application/json' });
    if (tree) {
      const entries = this.siblings(repo).map((s) => ({
        type: 'file',
        path: s.rfilename,
        size: s.size,
        oid: s.blobId,
        ...(s.lfs ? { lfs: { oid: s.lfs.sha256, size: s.lfs.size, pointerSize: s.lfs.pointerSize } } : {}),
      }));
      return send(200, JSON.stringify(entries), { 'content-type': 'application/json' });
    }
    const file = decodeURIComponent((resolve ?? cdn)![resolve ? 3 : 2]);
    const full = path.join(repo.dir, file);
    if (!fs.existsSync(full) || file.includes('..')) return send(404, JSON.stringify({ error: 'Entry not found' }), { 'x-error-code': 'EntryNotFound' });
    const data = fs.readFileSync(full);
    const etag = `"${isLfs(file) ? sha256(data) : blobId(data)}"`;
    if (resolve && isLfs(file)) {
      return send(302, '', {
        location: `${this.cdnOrigin}/cdn/${repoId}/${encodeURIComponent(file)}?signed=1`,
        'x-repo-commit': repo.commit,
        'x-linked-etag': etag,
        'x-linked-size': data.length,
      });
    }
    const headers: http.OutgoingHttpHeaders = { etag, 'accept-ranges': 'bytes', 'x-repo-commit': repo.commit, 'content-type': 'application/octet-stream' };
    let start = 0;
    let end = data.length - 1;
    let status = 200;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (range) {
      start = Number(range[1]);
      if (range[2]) end = Math.min(end, Number(range[2]));
      if (start >= data.length) return send(416, '', { 'content-range': `bytes */${data.length}` });
      status = 206;
      headers['content-range'] = `bytes ${start}-${end}/${data.length}`;
    }
    const body = data.subarray(start, end + 1);
    headers['content-length'] = body.length;
    if (this.delayMs > 0) {
      setTimeout(() => this.sendBody(res, entry, status, headers, body, file, start), this.delayMs);
      return;
    }
    this.sendBody(res, entry, status, headers, body, file, start);
  }

  /** The file list's `siblings` of a repository, as the Hub gives them with `?blobs=true`. */
  siblings(repo: FakeRepo): { rfilename: string; size: number; blobId: string; lfs?: { sha256: string; size: number; pointerSize: number } }[] {
    return fs
      .readdirSync(repo.dir)
      .sort()
      .map((name) => {
        const data = fs.readFileSync(path.join(repo.dir, name));
        return isLfs(name)
          ? {
              rfilename: name,
              size: data.length,
              blobId: blobId(Buffer.from(`lfs pointer ${name}`)),
              lfs: { sha256: repo.wrongSha256?.includes(name) ? sha256(Buffer.from('not this')) : sha256(data), size: data.length, pointerSize: 134 },
            }
          : { rfilename: name, size: data.length, blobId: blobId(data) };
      });
  }

  private sendBody(
    res: http.ServerResponse,
    entry: Served,
    status: number,
    headers: http.OutgoingHttpHeaders,
    body: Buffer,
    file: string,
    start: number,
  ): void {
    entry.status = status;
    res.writeHead(status, headers);
    if (this.cut && this.cut.file === file) {
      const n = Math.max(0, this.cut.after - start);
      this.cut = undefined;
      entry.bytes += n;
      res.write(body.subarray(0, n), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    if (entry.method !== 'HEAD') entry.bytes += body.length;
    res.end(body);
  }
}

/** A checkpoint in the Hub's layout made of plain files: two weight shards and their index, a config, a tokenizer. */
export function writePlainCheckpoint(dir: string, shardBytes = 300_000): void {
  fs.mkdirSync(dir, { recursive: true });
  let seed = 7;
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'qwen2', hidden_size: 64 }));
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify({ version: '1.0', model: { type: 'BPE', vocab: {} } }));
  fs.writeFileSync(path.join(dir, 'model-00001-of-00002.safetensors'), bytes(shardBytes));
  fs.writeFileSync(path.join(dir, 'model-00002-of-00002.safetensors'), bytes(shardBytes / 2));
  fs.writeFileSync(
    path.join(dir, 'model.safetensors.index.json'),
    JSON.stringify({ weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } }),
  );
  fs.writeFileSync(path.join(dir, 'README.md'), '# not needed\n');
  fs.writeFileSync(path.join(dir, 'generation_config.json'), '{}');
}

/** A machine with room for anything: Get Model's disk and memory checks pass. */
export const ROOMY = { freeBytes: async () => 1e12, totalMemory: () => 64e9 };

/**
 * A fake Hub serving writePlainCheckpoint's checkpoint as `repo` at `commit`, from a temporary folder that also holds
 * a Hugging Face cache of the test's own (HF_HUB_CACHE); `close()` stops the Hub and removes both.
 */
export async function servePlainCheckpoint(
  prefix: string,
  repo: string,
  commit: string,
): Promise<{ tmp: string; hub: FakeHub; endpoint: string; close(): Promise<void> }> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  writePlainCheckpoint(path.join(tmp, 'hub'));
  const hub = new FakeHub();
  hub.repos.set(repo, { dir: path.join(tmp, 'hub'), commit });
  const endpoint = await hub.start();
  process.env.HF_HUB_CACHE = path.join(tmp, 'hf-hub');
  return {
    tmp,
    hub,
    endpoint,
    close: async () => {
      delete process.env.HF_HUB_CACHE;
      await hub.stop();
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}

/** A command run without blocking this process's event loop, which serves the fake Hub. */
export function run(command: string, args: string[], options: SpawnOptions): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += String(d)));
    child.stderr!.on('data', (d) => (stderr += String(d)));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** training/tiny_checkpoints.py's tiny random Qwen2 checkpoint, in the Hub's layout, copied under `dir`: its folder. */
export function writeTinyQwen2(dir: string): string {
  return path.join(copyTinyCheckpoints(dir, ['qwen2']), 'qwen2');
}
