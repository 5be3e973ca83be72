// Issue 29 against the fake Hub on 127.0.0.1, with huggingface_hub itself as the reference client: a checkpoint its
// snapshot_download put in the Hugging Face cache is converted by Get Model with nothing downloaded; what Get Model
// downloads is listed by its scan_cache_dir and found by hf_hub_download offline; a repository without a mask token, or
// with a tokenizer the runtime cannot run, is refused before its weights are downloaded. Every test has an HF_HOME of
// its own (never ~/.cache/huggingface). Needs Python's huggingface_hub and torch (bash training/install.sh): fails without them.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { convert } from '../../../src/convert';
import { getModel, type GetModelOptions, type Installer } from '../../../src/hub/getModel';
import { deleteSnapshot, hubCacheDir, repoCacheDir } from '../../../src/hub/hfCache';
import { installCheckpoint, precheckCheckpoint } from '../../../src/hub/installStep';
import { FakeHub, ROOMY, run, writeTinyQwen2 } from './fakeHub';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const REPO = 'tiny-org/tiny-qwen2';
const NOMASK = 'plain-org/left-to-right';
const WORDLEVEL = 'plain-org/word-level';
const roomy = ROOMY;

/** A safetensors file of one F32 tensor of `floats` zeros: weights past the 1 MB a refused repository may cost. */
function paddingSafetensors(file: string, floats: number): void {
  const header = Buffer.from(JSON.stringify({ padding: { dtype: 'F32', shape: [floats], data_offsets: [0, floats * 4] } }));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  fs.writeFileSync(file, Buffer.concat([length, header, Buffer.alloc(floats * 4)]));
}

describe('the Hugging Face cache, shared with huggingface_hub, and refusals before the download (issue 29)', function () {
  this.timeout(300_000);
  let tmp = '';
  let hub: FakeHub;
  let endpoint = '';
  let home = 0;
  const python = (code: string, env: NodeJS.ProcessEnv = {}) =>
    run('python3', ['-c', code], { env: { ...process.env, HF_ENDPOINT: endpoint, HF_HUB_DISABLE_TELEMETRY: '1', HF_HUB_DISABLE_PROGRESS_BARS: '1', ...env } });
  const fileRequests = (from: number) => hub.log.slice(from).filter((l) => l.path.includes('/resolve/') || l.path.startsWith('/cdn/'));
  const bytesServed = (from: number) => hub.log.slice(from).reduce((n, l) => n + l.bytes, 0);
  const stand: Installer = async (job) => {
    fs.mkdirSync(job.stagingDir, { recursive: true });
    fs.writeFileSync(path.join(job.stagingDir, 'unmask.json'), '{}');
    fs.renameSync(job.stagingDir, job.finalDir);
  };
  const get = (over: Partial<GetModelOptions>) =>
    getModel({
      source: REPO,
      storageDir: path.join(tmp, `storage-${home}`),
      endpoint,
      machine: roomy,
      install: installCheckpoint,
      precheck: precheckCheckpoint,
      ...over,
    });

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-hfcache-'));
    const qwen2 = writeTinyQwen2(path.join(tmp, 'hub'));
    const tokenizer = JSON.parse(fs.readFileSync(path.join(qwen2, 'tokenizer.json'), 'utf8'));
    // an ordinary model: the same checkpoint with its mask token renamed away, and 4 MB more weights
    const nomask = path.join(tmp, 'hub', 'nomask');
    fs.cpSync(qwen2, nomask, { recursive: true });
    const renamed = {
      ...tokenizer,
      added_tokens: tokenizer.added_tokens.map((t: { content: string }) => (t.content === '<|mask|>' ? { ...t, content: '<|unused|>' } : t)),
    };
    fs.writeFileSync(path.join(nomask, 'tokenizer.json'), JSON.stringify(renamed));
    paddingSafetensors(path.join(nomask, 'padding.safetensors'), 1 << 20);
    // a WordLevel tokenizer over the same vocabulary (transformers can save one; the runtime's library cannot run it)
    const wordLevel = path.join(tmp, 'hub', 'wordlevel');
    fs.cpSync(qwen2, wordLevel, { recursive: true });
    fs.writeFileSync(
      path.join(wordLevel, 'tokenizer.json'),
      JSON.stringify({
        ...tokenizer,
        pre_tokenizer: { type: 'Whitespace' },
        decoder: null,
        model: { type: 'WordLevel', vocab: tokenizer.model.vocab, unk_token: '<|endoftext|>' },
      }),
    );
    paddingSafetensors(path.join(wordLevel, 'padding.safetensors'), 1 << 20);
    hub = new FakeHub();
    hub.repos.set(REPO, { dir: qwen2, commit: 'c'.repeat(40) });
    hub.repos.set(NOMASK, { dir: nomask, commit: 'd'.repeat(40) });
    hub.repos.set(WORDLEVEL, { dir: wordLevel, commit: 'e'.repeat(40) });
    endpoint = await hub.start();
  });
  beforeEach(() => {
    process.env.HF_HOME = path.join(tmp, `hf-home-${++home}`); // an empty Hugging Face cache for each test
  });
  after(async () => {
    await hub?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("converts a checkpoint that huggingface_hub's snapshot_download put in the cache, downloading nothing", async () => {
    const placed = await python(`import huggingface_hub as h; print(h.snapshot_download(${JSON.stringify(REPO)}))`);
    assert.equal(placed.status, 0, placed.stderr);
    const snapshot = placed.stdout.trim();
    assert.equal(snapshot, path.join(hubCacheDir(), 'models--tiny-org--tiny-qwen2', 'snapshots', 'c'.repeat(40)));
    assert.ok(fileRequests(0).length > 0, "huggingface_hub's own download went through the fake Hub");

    const from = hub.log.length;
    const t0 = performance.now();
    const phases: string[] = [];
    const got = await get({ onProgress: (p) => phases.push(p.phase) });
    const seconds = (performance.now() - t0) / 1000;
    assert.deepEqual(fileRequests(from), [], 'not one file asked of the Hub');
    assert.equal(got.received, 0);
    assert.ok(got.fromCache && phases.includes('cached') && !phases.includes('download'), phases.join(' '));
    assert.deepEqual(
      hub.log.slice(from).map((l) => l.path),
      [`/api/models/${REPO}/revision/main`],
      'only the file list, which pins the commit',
    );
    assert.equal(got.snapshot, snapshot);
    for (const f of ['model.onnx', 'tokenizer.json', 'unmask.json', 'origin.json']) assert.ok(fs.existsSync(path.join(got.folder, f)), f);
    assert.ok(fs.existsSync(path.join(snapshot, 'config.json')), 'the shared snapshot is left as it was');
    console.log(`      converted from the cache in ${seconds.toFixed(1)} s; ${bytesServed(from)} bytes served (the file list), 0 file bytes`);
  });

  it("puts what it downloads where huggingface_hub's scan_cache_dir lists it and hf_hub_download finds it offline; deletes it only when asked", async () => {
    const from = hub.log.length;
    const got = await get({ install: stand });
    assert.ok(got.received > 0 && !got.fromCache);
    const repoDir = repoCacheDir(hubCacheDir(), REPO);
    const scanned = await python(
      `import huggingface_hub as h, json
info = h.scan_cache_dir()
print(json.dumps({"warnings": [str(w) for w in info.warnings], "repos": [{"id": r.repo_id, "size": r.size_on_disk, "revisions": [{"commit": v.commit_hash, "refs": sorted(v.refs), "files": sorted(f.file_name for f in v.files)} for v in r.revisions]} for r in info.repos]}))
print(h.hf_hub_download(${JSON.stringify(REPO)}, "config.json", local_files_only=True))`,
      { HF_HUB_OFFLINE: '1' },
    );
    assert.equal(scanned.status, 0, scanned.stderr);
    const [json, found] = scanned.stdout.trim().split('\n');
    const report = JSON.parse(json);
    assert.deepEqual(report.warnings, []);
    assert.equal(report.repos.length, 1);
    assert.equal(report.repos[0].id, REPO);
    assert.deepEqual(report.repos[0].revisions, [
      {
        commit: 'c'.repeat(40),
        refs: ['main'],
        files: [
          'config.json',
          'model-00001-of-00003.safetensors',
          'model-00002-of-00003.safetensors',
          'model-00003-of-00003.safetensors',
          'model.safetensors.index.json',
          'tokenizer.json',
        ],
      },
    ]);
    const selected = hub.siblings(hub.repos.get(REPO)!).filter((f) => report.repos[0].revisions[0].files.includes(f.rfilename));
    const fileBytes = selected.reduce((n, f) => n + f.size, 0);
    assert.equal(report.repos[0].size, fileBytes, 'the cache holds the files, each once');
    assert.ok(got.received >= fileBytes && got.received - fileBytes < 10_000, `${got.received} received: the files and their headers read first`);
    assert.equal(found, path.join(repoDir, 'snapshots', 'c'.repeat(40), 'config.json'));
    assert.ok(fs.lstatSync(found).isSymbolicLink() === (process.platform !== 'win32'), 'a link into blobs/');
    console.log(`      downloaded ${got.received} bytes in ${fileRequests(from).length} file requests into ${repoDir}`);

    // a second Get Model of another precision: nothing downloaded again
    const again = await get({ install: stand, precision: 'fp32' });
    assert.equal(again.received, 0);
    // --delete-download: the snapshot, its blobs and refs go, and with them the repository's folder
    const gone = await get({ install: stand, precision: 'int4', deleteDownload: true });
    assert.equal(gone.received, 0);
    assert.ok(!fs.existsSync(repoDir), 'deleted on request');
    assert.equal(await deleteSnapshot(repoDir, 'c'.repeat(40)), 0, 'deleting again is harmless');
  });

  it('get-model refuses a repository without a mask token with under 1 MB downloaded, saying it is probably not a diffusion model', async () => {
    const weights = hub.siblings(hub.repos.get(NOMASK)!).filter((s) => s.rfilename.endsWith('.safetensors'));
    const weightBytes = weights.reduce((n, s) => n + s.size, 0);
    assert.ok(weightBytes > 4e6, `the weights are ${weightBytes} bytes: more than the limit, so a download of them would fail this test`);
    const from = hub.log.length;
    const t0 = performance.now();
    const got = await run('npm', ['run', '-s', 'get-model', '--', NOMASK, '--storage', path.join(tmp, 'cli-storage')], {
      cwd: ROOT,
      env: { ...process.env, HF_ENDPOINT: endpoint },
    });
    const seconds = (performance.now() - t0) / 1000;
    assert.equal(got.status, 1, got.stderr);
    assert.match(got.stderr, /refused before its weights were downloaded \(\d+ kB fetched: config\.json, the tokenizer files and the safetensors headers\)/);
    assert.match(got.stderr, /probably not a diffusion language model/);
    assert.match(got.stderr, /--mask-token TEXT \(to npm run convert or npm run get-model/);
    assert.match(got.stderr, /catalog's code diffusion models: open-dcoder-0\.5b \(fredzzp\/open-dcoder-0\.5B\)/);
    assert.doesNotMatch(got.stderr, /Cannot convert|at .*\.ts:\d+/);
    const served = bytesServed(from);
    assert.ok(served < 1e6, `${served} bytes served`);
    assert.ok(
      hub.log.slice(from).every((l) => !l.path.endsWith('.safetensors') || (l.range !== undefined && (l.status === 206 || l.status === 302))),
      'the weights were only read by Range',
    );
    const blobs = path.join(repoCacheDir(hubCacheDir(), NOMASK), 'blobs');
    for (const b of fs.readdirSync(blobs)) assert.ok(fs.statSync(path.join(blobs, b)).size < 1e5, `${b}: no weights kept`);
    console.log(`      refused in ${seconds.toFixed(1)} s (npm run, tsx included) after ${served} bytes of ${weightBytes + 60_000} (weights ${weightBytes})`);
  });

  it('refuses a WordLevel tokenizer at conversion, naming its type and the supported ones, and before the download in get-model', async () => {
    const dir = hub.repos.get(WORDLEVEL)!.dir;
    await assert.rejects(convert(dir, path.join(tmp, 'wordlevel-out')), (e: Error) => {
      assert.match(
        e.message,
        /the tokenizer's model is "WordLevel": the runtime's tokenizer library \(@huggingface\/tokenizers\) runs BPE, Unigram, WordPiece/,
      );
      assert.doesNotMatch(e.message, /BigInt/);
      return true;
    });
    assert.ok(!fs.existsSync(path.join(tmp, 'wordlevel-out')), 'no model folder');
    // the same tokenizer without its type (older tokenizer.json files name none): refused by the round trip
    const untyped = path.join(tmp, 'untyped');
    fs.cpSync(dir, untyped, { recursive: true });
    const json = JSON.parse(fs.readFileSync(path.join(untyped, 'tokenizer.json'), 'utf8'));
    delete json.model.type;
    fs.writeFileSync(path.join(untyped, 'tokenizer.json'), JSON.stringify(json));
    await assert.rejects(convert(untyped, path.join(tmp, 'untyped-out')), /fails on sample 1 of the code it must encode.*gave undefined as the id/);

    const from = hub.log.length;
    await assert.rejects(get({ source: WORDLEVEL, install: stand }), /refused before its weights were downloaded .*"WordLevel"/);
    assert.ok(bytesServed(from) < 1e6, `${bytesServed(from)} bytes served`);
  });
});
