// Downloading a checkpoint from a Hub: a real HTTP server on 127.0.0.1 (fakeHub.ts) answers as the Hub does.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { downloadFiles, HubError, listFiles, PART_SUFFIX, selectFiles, type DownloadProgress } from '../../../src/hub/hubClient';
import { FakeHub, writePlainCheckpoint } from './fakeHub';

const REPO = 'tiny-org/tiny-coder';
const COMMIT = 'a'.repeat(40);
const SHARD = 'model-00001-of-00002.safetensors';

describe('hub client', () => {
  let tmp: string;
  let hub: FakeHub;
  let endpoint: string;
  let source: string;

  beforeEach(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-hub-'));
    source = path.join(tmp, 'hub', REPO);
    writePlainCheckpoint(source);
    hub = new FakeHub();
    hub.repos.set(REPO, { dir: source, commit: COMMIT });
    endpoint = await hub.start();
  });
  afterEach(async () => {
    await hub.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const fetchAll = async (dest: string, extra: Parameters<typeof downloadFiles>[3] = {}) => {
    const listing = await listFiles(REPO, 'main', { endpoint });
    const files = selectFiles(listing);
    const progress: DownloadProgress[] = [];
    const received = await downloadFiles(listing, files, dest, { endpoint, retries: 0, onProgress: (p) => progress.push(p), ...extra });
    return { listing, files, received, progress };
  };

  it('lists the revision, pins its commit and picks only the files the converter reads', async () => {
    const listing = await listFiles(REPO, 'main', { endpoint });
    assert.equal(listing.commit, COMMIT);
    const shard = listing.files.find((f) => f.path === SHARD)!;
    assert.equal(shard.size, fs.statSync(path.join(source, SHARD)).size);
    assert.match(shard.sha256 ?? '', /^[0-9a-f]{64}$/);
    assert.deepEqual(
      selectFiles(listing)
        .map((f) => f.path)
        .sort(),
      ['config.json', SHARD, 'model-00002-of-00002.safetensors', 'model.safetensors.index.json', 'tokenizer.json'],
    );
  });

  it('downloads every file byte for byte, following the redirect of LFS files, and reports progress', async () => {
    const dest = path.join(tmp, 'dl');
    const { files, received, progress } = await fetchAll(dest);
    const total = files.reduce((n, f) => n + f.size!, 0);
    assert.equal(received, total);
    for (const f of files) assert.deepEqual(fs.readFileSync(path.join(dest, f.path)), fs.readFileSync(path.join(source, f.path)), f.path);
    assert.ok(!fs.existsSync(path.join(dest, 'README.md')) && !fs.existsSync(path.join(dest, 'generation_config.json')));
    assert.equal(fs.readdirSync(dest).filter((n) => n.endsWith(PART_SUFFIX)).length, 0);
    // files were fetched by the pinned commit, and the shard through the second (CDN) path
    assert.ok(hub.log.some((l) => l.path === `/${REPO}/resolve/${COMMIT}/${SHARD}` && l.status === 302));
    assert.ok(hub.log.some((l) => l.path === `/cdn/${REPO}/${SHARD}` && l.status === 200));
    assert.equal(progress.at(-1)!.bytes, total);
    assert.equal(progress.at(-1)!.total, total);
    // a second call finds everything in place and transfers nothing
    const again = await fetchAll(dest);
    assert.equal(again.received, 0);
  });

  it('resumes a download cut mid-file with a Range request for only the rest', async () => {
    const dest = path.join(tmp, 'dl');
    const shardSize = fs.statSync(path.join(source, SHARD)).size;
    const cutAt = 123_457;
    hub.cut = { file: SHARD, after: cutAt };
    await assert.rejects(fetchAll(dest), (e: HubError) => e.kind === 'network' && /closed after 123457 of 300000 bytes/.test(e.message));
    assert.equal(fs.statSync(path.join(dest, SHARD + PART_SUFFIX)).size, cutAt, 'the partial file is kept');
    assert.ok(!fs.existsSync(path.join(dest, SHARD)));
    const sentBefore = hub.bytesSent(SHARD);
    const { received, files } = await fetchAll(dest);
    const rest = shardSize - cutAt;
    assert.equal(hub.bytesSent(SHARD) - sentBefore, rest, 'the server sent only the rest of the shard');
    const after = files.slice(files.findIndex((f) => f.path === SHARD) + 1).reduce((n, f) => n + f.size!, 0);
    assert.equal(received, rest + after, 'the second run received the rest of the shard and the files after it, nothing before');
    assert.ok(hub.log.some((l) => l.range === `bytes=${cutAt}-` && l.status === 206));
    assert.deepEqual(fs.readFileSync(path.join(dest, SHARD)), fs.readFileSync(path.join(source, SHARD)));
  });

  it('resumes by itself when retries are allowed', async () => {
    const dest = path.join(tmp, 'dl');
    hub.cut = { file: SHARD, after: 50_000 };
    const { files, received } = await fetchAll(dest, { retries: 1 });
    assert.equal(
      received,
      files.reduce((n, f) => n + f.size!, 0),
      'bytes before the cut plus the rest: nothing twice',
    );
    assert.deepEqual(fs.readFileSync(path.join(dest, SHARD)), fs.readFileSync(path.join(source, SHARD)));
  });

  it('refuses a file whose sha256 is not the one the Hub lists, and does not keep it', async () => {
    hub.repos.set(REPO, { dir: source, commit: COMMIT, wrongSha256: [SHARD] });
    const dest = path.join(tmp, 'dl');
    await assert.rejects(
      fetchAll(dest),
      (e: HubError) => e.kind === 'integrity' && e.message.includes(SHARD) && /sha256: expected [0-9a-f]{64}, got [0-9a-f]{64}/.test(e.message),
    );
    assert.ok(!fs.existsSync(path.join(dest, SHARD)));
    assert.ok(!fs.existsSync(path.join(dest, SHARD + PART_SUFFIX)));
  });

  it('says to set HF_TOKEN or store a token for a gated repository, and sends the token it is given', async () => {
    hub.repos.set(REPO, { dir: source, commit: COMMIT, token: 'hf_secret' });
    const saved = process.env.HF_TOKEN;
    delete process.env.HF_TOKEN;
    try {
      await assert.rejects(
        listFiles(REPO, 'main', { endpoint }),
        (e: HubError) => e.kind === 'auth' && e.status === 401 && /HF_TOKEN/.test(e.message) && /store a token/.test(e.message),
      );
      process.env.HF_TOKEN = 'hf_secret';
      const dest = path.join(tmp, 'dl');
      const { files } = await fetchAll(dest);
      assert.ok(files.every((f) => fs.existsSync(path.join(dest, f.path))));
      // the token goes to the Hub, never to the CDN a file redirects to
      assert.ok(hub.log.filter((l) => l.path.startsWith('/cdn/')).every((l) => l.authorization === undefined));
      assert.ok(hub.log.filter((l) => l.path.includes('/resolve/')).every((l) => l.authorization === 'Bearer hf_secret'));
    } finally {
      if (saved === undefined) delete process.env.HF_TOKEN;
      else process.env.HF_TOKEN = saved;
    }
  });

  it('says which of repository or revision is missing on a 404', async () => {
    await assert.rejects(
      listFiles('nobody/nothing', 'main', { endpoint }),
      (e: HubError) => e.kind === 'not-found' && e.status === 404 && e.message.startsWith('nobody/nothing') && /repository/.test(e.message),
    );
    await assert.rejects(listFiles(REPO, 'v9', { endpoint }), (e: HubError) => e.kind === 'not-found' && /revision/.test(e.message));
    assert.throws(
      () =>
        selectFiles({
          repo: REPO,
          revision: 'main',
          commit: COMMIT,
          files: [{ path: 'config.json' }, { path: 'tokenizer.json' }, { path: 'pytorch_model.bin' }],
        }),
      /no \.safetensors weights \(only pytorch_model\.bin\)/,
    );
  });

  it('stops on a full disk with the reason, keeping what was written for a resume', async () => {
    const dest = path.join(tmp, 'dl');
    let written = 0;
    const openPart = (partPath: string, append: boolean) => {
      const real = fs.createWriteStream(partPath, { flags: append ? 'a' : 'w' });
      return new Writable({
        write(chunk: Buffer, _enc, cb) {
          if (partPath.endsWith(SHARD + PART_SUFFIX) && written + chunk.length > 100_000) {
            const e = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write' });
            return real.end(() => cb(e));
          }
          if (partPath.endsWith(SHARD + PART_SUFFIX)) written += chunk.length;
          real.write(chunk, cb);
        },
        final(cb) {
          real.end(cb);
        },
      });
    };
    await assert.rejects(fetchAll(dest, { openPart }), (e: HubError) => e.kind === 'disk' && /disk is full/.test(e.message) && e.message.includes(SHARD));
    assert.ok(!fs.existsSync(path.join(dest, SHARD)));
    assert.equal(fs.statSync(path.join(dest, SHARD + PART_SUFFIX)).size, written);
    const { received, files } = await fetchAll(dest);
    const after = files.slice(files.findIndex((f) => f.path === SHARD) + 1).reduce((n, f) => n + f.size!, 0);
    assert.equal(received, fs.statSync(path.join(source, SHARD)).size - written + after, 'the resume did not start the shard over');
    assert.deepEqual(fs.readFileSync(path.join(dest, SHARD)), fs.readFileSync(path.join(source, SHARD)));
  });

  it('cancels: the partial file stays for a resume and no file is renamed into place', async () => {
    const dest = path.join(tmp, 'dl');
    const controller = new AbortController();
    await assert.rejects(
      fetchAll(dest, {
        signal: controller.signal,
        onProgress: (p) => {
          if (p.file === SHARD && p.bytes > 150_000) controller.abort();
        },
      }),
      (e: Error) => e.name === 'Cancelled',
    );
    assert.ok(!fs.existsSync(path.join(dest, SHARD)));
    assert.ok(fs.statSync(path.join(dest, SHARD + PART_SUFFIX)).size > 0);
  });
});
