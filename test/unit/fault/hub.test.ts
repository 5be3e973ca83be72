// Issue 27, the Hub's side: a hostile local Hub (test/unit/hub/fakeHub.ts with `intercept`) and a careless --out.
// Each case was a probe that did harm before: --out replaced whatever was there, a commit id from the listing became
// a path, a file larger than listed was written to the end, a drip was never dropped, 429/503 failed at once, a
// listing of brackets took gigabytes, a character split between chunks was garbled, HF_ENDPOINT's password was
// written to origin.json, a killed install's folders stayed forever and two runs of one repository raced.
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as path from 'node:path';
import { getModel, type GetModelOptions, type InstallJob, type Installer } from '../../../src/hub/getModel';
import { downloadFiles, HubError, listFiles, PART_SUFFIX, selectFiles } from '../../../src/hub/hubClient';
import { findLeftovers, lockPath } from '../../../src/hub/leftovers';
import { FakeHub, ROOMY, servePlainCheckpoint } from '../hub/fakeHub';

const REPO = 'tiny-org/tiny-coder';
const COMMIT = 'c'.repeat(40);
const SHARD = 'model-00001-of-00002.safetensors';
const roomy = ROOMY;

/** The id of a process that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

describe('fault: a hostile Hub and a careless --out (issue 27)', function () {
  this.timeout(30_000);
  let tmp: string;
  let storageDir: string;
  let hub: FakeHub;
  let endpoint: string;
  const jobs: InstallJob[] = [];
  const writesFolder: Installer = async (job) => {
    jobs.push(job);
    fs.mkdirSync(job.stagingDir, { recursive: true });
    fs.writeFileSync(path.join(job.stagingDir, 'unmask.json'), '{}');
    fs.writeFileSync(path.join(job.stagingDir, 'origin.json'), JSON.stringify(job.origin));
    fs.rmSync(job.finalDir, { recursive: true, force: true });
    fs.renameSync(job.stagingDir, job.finalDir);
  };
  const get = (over: Partial<GetModelOptions> = {}) => getModel({ source: REPO, storageDir, endpoint, machine: roomy, install: writesFolder, ...over });
  const resolves = () => hub.log.filter((l) => l.path.includes('/resolve/') || l.path.startsWith('/cdn/')).length;

  let close: () => Promise<void>;
  beforeEach(async () => {
    ({ tmp, hub, endpoint, close } = await servePlainCheckpoint('unmask-fault-hub-', REPO, COMMIT));
    storageDir = path.join(tmp, 'storage');
    jobs.length = 0;
  });
  afterEach(() => close());

  describe('--out (1)', () => {
    it("refuses a non-empty folder of the user's and a file, --force or not, touching nothing and downloading nothing", async () => {
      const mine = path.join(tmp, 'project');
      fs.mkdirSync(path.join(mine, 'src'), { recursive: true });
      fs.writeFileSync(path.join(mine, 'src', 'main.py'), 'print(1)\n');
      const file = path.join(tmp, 'notes.txt');
      fs.writeFileSync(file, 'mine\n');
      for (const force of [false, true]) {
        await assert.rejects(
          get({ outDir: mine, force }),
          /--out .*project is a folder that is not empty .*not a model folder Unmask wrote .*--force included; name a new or empty folder/,
        );
        await assert.rejects(get({ outDir: file, force }), /--out .*notes\.txt is a file, not a folder/);
      }
      assert.equal(fs.readFileSync(path.join(mine, 'src', 'main.py'), 'utf8'), 'print(1)\n');
      assert.equal(fs.readFileSync(file, 'utf8'), 'mine\n');
      assert.equal(hub.log.length, 0, 'refused before the Hub was asked');
      assert.equal(jobs.length, 0);
    });

    it('refuses the storage, its models/ with the installed models, and the download folder (in, around or equal), --force or not', async () => {
      const first = await get();
      const checkpoint = path.join(storageDir, 'downloads', 'tiny-org--tiny-coder', COMMIT);
      fs.mkdirSync(checkpoint, { recursive: true });
      fs.writeFileSync(path.join(checkpoint, 'config.json'), '{}');
      for (const force of [false, true]) {
        await assert.rejects(get({ outDir: path.join(storageDir, 'models'), force }), /would hold or replace Unmask's storage|not a model folder Unmask wrote/);
        await assert.rejects(get({ outDir: storageDir, force }), /overlaps the download folder|would hold or replace Unmask's storage/);
        await assert.rejects(get({ outDir: checkpoint, force }), /overlaps the download folder .*downloads/);
        await assert.rejects(get({ outDir: path.join(checkpoint, 'out'), force }), /overlaps the download folder/);
        await assert.rejects(get({ outDir: path.join(storageDir, 'downloads'), force }), /overlaps the download folder/);
      }
      assert.ok(fs.existsSync(path.join(first.folder, 'unmask.json')), 'the installed model is still there');
      assert.ok(fs.existsSync(path.join(checkpoint, 'config.json')), 'the checkpoint is still there');
    });

    it('replaces a model folder of the same repository (an update), one of another repository only with --force', async () => {
      const out = path.join(tmp, 'out');
      fs.mkdirSync(out);
      fs.writeFileSync(path.join(out, 'unmask.json'), '{}');
      fs.writeFileSync(path.join(out, 'origin.json'), JSON.stringify({ repo: 'other/model', commit: 'd'.repeat(40), precision: 'int8' }));
      await assert.rejects(get({ outDir: out }), /already holds a model folder of other\/model; pass --force to replace it/);
      assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'origin.json'), 'utf8')).repo, 'other/model');
      await get({ outDir: out, force: true });
      assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'origin.json'), 'utf8')).repo, REPO);
      // the same repository at another commit: an update, no flag needed
      fs.writeFileSync(path.join(out, 'origin.json'), JSON.stringify({ repo: REPO, commit: 'e'.repeat(40), precision: 'int8' }));
      await get({ outDir: out });
      assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'origin.json'), 'utf8')).commit, COMMIT);
    });
  });

  describe('revisions and commit ids become paths only when valid (1)', () => {
    it('refuses a revision that climbs out, before the Hub is asked', async () => {
      for (const revision of ['../../../../x', '/etc', 'a\\b', 'refs/../x', '.hidden']) {
        await assert.rejects(get({ revision }), (e: Error) => e instanceof HubError && /--revision .* is not a revision/.test(e.message), revision);
      }
      assert.equal(hub.log.length, 0);
    });

    it('refuses a listing whose commit id (sha) is not 40 hex digits, downloading nothing', async () => {
      hub.intercept = (_req, res, url) => {
        if (!url.pathname.startsWith('/api/')) return false;
        res.end(JSON.stringify({ sha: '../../../../x', siblings: hub.siblings(hub.repos.get(REPO)!) }));
        return true;
      };
      await assert.rejects(get(), /"sha": the commit id must be 40 hex digits, got "\.\.\/\.\.\/\.\.\/\.\.\/x"/);
      assert.equal(resolves(), 0);
      assert.ok(!fs.existsSync(path.join(storageDir, 'downloads', 'tiny-org--tiny-coder')));
    });
  });

  describe('downloads (4)', () => {
    const fetchAll = async (extra: Parameters<typeof downloadFiles>[3] = {}) => {
      const listing = await listFiles(REPO, 'main', { endpoint, ...extra });
      return downloadFiles(listing, selectFiles(listing), path.join(tmp, 'dl'), { endpoint, retries: 0, ...extra });
    };

    it('stops a file at its listed size: 50 MB sent for a 300 kB file is cut there, and nothing of it kept', async () => {
      const listed = fs.statSync(path.join(tmp, 'hub', SHARD)).size;
      hub.intercept = (_req, res, url) => {
        if (!url.pathname.endsWith(`/cdn/${REPO}/${SHARD}`)) return false;
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const chunk = Buffer.alloc(1 << 20, 7);
        let left = 50;
        const more = () => {
          while (left > 0 && !res.destroyed) {
            left--;
            if (!res.write(chunk)) return void res.once('drain', more);
          }
          res.end();
        };
        res.on('error', () => undefined);
        more();
        return true;
      };
      const started = Date.now();
      await assert.rejects(
        fetchAll(),
        (e: HubError) => e.kind === 'integrity' && new RegExp(`${SHARD}: the server sent more than the ${listed} bytes the file list says`).test(e.message),
      );
      assert.ok(Date.now() - started < 5000, `stopped in ${Date.now() - started} ms`);
      assert.ok(!fs.existsSync(path.join(tmp, 'dl', SHARD + PART_SUFFIX)) && !fs.existsSync(path.join(tmp, 'dl', SHARD)), 'nothing kept');
    });

    it('drops a server that drips a byte every 50 ms after the stall window, keeping the part for a resume', async () => {
      hub.intercept = (_req, res, url) => {
        if (!url.pathname.endsWith(`/cdn/${REPO}/${SHARD}`)) return false;
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const t = setInterval(() => (res.destroyed ? clearInterval(t) : res.write(Buffer.from([1]))), 50);
        res.on('close', () => clearInterval(t));
        return true;
      };
      const started = Date.now();
      await assert.rejects(
        fetchAll({ stallTimeoutS: 0.4 }),
        (e: HubError) =>
          e.kind === 'network' &&
          /model-00001-of-00002\.safetensors \(at \d+ of 300000 bytes\): fewer than 1024 bytes arrived in 0\.4 s, .*dropped as stalled; run again to resume/.test(
            e.message,
          ),
      );
      assert.ok(Date.now() - started < 3000, `dropped in ${Date.now() - started} ms`);
      assert.ok(fs.existsSync(path.join(tmp, 'dl', SHARD + PART_SUFFIX)), 'the partial file is kept for a resume');
    });

    it('drops a file list that drips', async () => {
      hub.intercept = (_req, res, url) => {
        if (!url.pathname.startsWith('/api/')) return false;
        res.writeHead(200, { 'content-type': 'application/json' });
        const t = setInterval(() => (res.destroyed ? clearInterval(t) : res.write(' ')), 50);
        res.on('close', () => clearInterval(t));
        return true;
      };
      await assert.rejects(listFiles(REPO, 'main', { endpoint, stallTimeoutS: 0.4 }), /the file list at .*: fewer than 1024 bytes arrived in 0\.4 s/);
    });

    it('honours 429 and 503 with Retry-After a bounded number of times', async () => {
      let busy = 2;
      hub.intercept = (_req, res, url) => {
        if (!(url.pathname.startsWith('/api/') || url.pathname.endsWith(SHARD)) || busy <= 0) return false;
        busy--;
        res.writeHead(url.pathname.startsWith('/api/') ? 503 : 429, { 'retry-after': '0' }).end('slow down');
        return true;
      };
      // the listing answers 503 twice, then the shard would too: everything arrives
      await fetchAll();
      busy = 2;
      await fs.promises.rm(path.join(tmp, 'dl'), { recursive: true });
      hub.intercept = (_req, res, url) => {
        if (!url.pathname.endsWith(SHARD) || busy <= 0) return false;
        busy--;
        res.writeHead(429, { 'retry-after': '1' }).end('slow down');
        return true;
      };
      const started = Date.now();
      await fetchAll();
      assert.ok(Date.now() - started >= 1900, 'waited as Retry-After asked');
      // always busy: refused after 1 + 3 requests, saying so
      hub.log.length = 0;
      hub.intercept = (_req, res, url) => {
        if (!url.pathname.startsWith('/api/')) return false;
        res.writeHead(429, { 'retry-after': '0' }).end();
        return true;
      };
      await assert.rejects(
        listFiles(REPO, 'main', { endpoint }),
        (e: HubError) => e.kind === 'busy' && /answered HTTP 429 .*asks again at most 3 times/.test(e.message),
      );
      assert.equal(hub.log.length, 4);
      // a wait longer than the cap is not waited for
      hub.log.length = 0;
      hub.intercept = (_req, res) => {
        res.writeHead(503, { 'retry-after': '3600' }).end();
        return true;
      };
      await assert.rejects(listFiles(REPO, 'main', { endpoint }), /HTTP 503 .*Retry-After: 3600.*waits at most 30 s/);
      assert.equal(hub.log.length, 1);
    });
  });

  describe('the file list (5, 8)', () => {
    const serveListing = (write: (res: http.ServerResponse) => void) => {
      hub.intercept = (_req, res, url) => {
        if (!url.pathname.startsWith('/api/')) return false;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.on('error', () => undefined);
        write(res);
        return true;
      };
    };

    it('refuses 100 MB of "[" within seconds, naming the listing and the 16 MiB limit', async () => {
      serveListing((res) => {
        const chunk = Buffer.alloc(1 << 20, '[');
        let left = 100;
        const more = () => {
          while (left > 0 && !res.destroyed) {
            left--;
            if (!res.write(chunk)) return void res.once('drain', more);
          }
          res.end();
        };
        more();
      });
      const started = Date.now();
      const rss = process.memoryUsage().rss;
      await assert.rejects(
        listFiles(REPO, 'main', { endpoint }),
        /the file list at http:\/\/127\.0\.0\.1:\d+\/api\/models\/tiny-org\/tiny-coder\/revision\/main\?blobs=true is larger than 16 MiB/,
      );
      assert.ok(Date.now() - started < 5000, `refused in ${Date.now() - started} ms`);
      assert.ok(process.memoryUsage().rss - rss < 200e6, `grew ${Math.round((process.memoryUsage().rss - rss) / 1e6)} MB`);
    });

    it('refuses 1 MB of "[" (under the size limit) by the JSON budget, before JSON.parse', async () => {
      serveListing((res) => res.end(Buffer.alloc(1 << 20, '[')));
      await assert.rejects(
        listFiles(REPO, 'main', { endpoint }),
        /the file list at .* nests arrays and objects deeper than 64 levels .*refused before parsing it/,
      );
    });

    it('decodes a name whose UTF-8 character is split between two chunks', async () => {
      const siblings = [...hub.siblings(hub.repos.get(REPO)!), { rfilename: 'LISEZ-MOI-é日本.md', size: 3 }];
      const body = Buffer.from(JSON.stringify({ sha: COMMIT, siblings }));
      const at = body.indexOf(Buffer.from('日')) + 1; // inside the three bytes of 日
      serveListing((res) => res.write(body.subarray(0, at), () => setTimeout(() => res.end(body.subarray(at)), 50)));
      const listing = await listFiles(REPO, 'main', { endpoint });
      assert.ok(
        listing.files.some((f) => f.path === 'LISEZ-MOI-é日本.md'),
        listing.files.map((f) => f.path).join(', '),
      );
    });

    it('writes no credentials of HF_ENDPOINT to origin.json', async () => {
      const withPassword = endpoint.replace('http://', 'http://someone:s3cret@');
      const got = await get({ endpoint: withPassword });
      assert.equal(got.origin.endpoint, endpoint);
      const written = fs.readFileSync(path.join(got.folder, 'origin.json'), 'utf8');
      assert.ok(!written.includes('s3cret') && !written.includes('someone'), written);
      // nor in an error message
      await assert.rejects(listFiles('tiny-org/missing', 'main', { endpoint: withPassword }), (e: Error) => !e.message.includes('s3cret'));
    });
  });

  describe('leftovers and the lock (7)', () => {
    it('a second Get Model of the same repository is refused while the first runs, with a message naming it', async () => {
      let letGo!: () => void;
      const gate = new Promise<void>((resolve) => (letGo = resolve));
      let inInstall!: () => void;
      const started = new Promise<void>((resolve) => (inInstall = resolve));
      const slow: Installer = async (job, signal, report) => {
        inInstall();
        await gate;
        await writesFolder(job, signal, report);
      };
      const first = get({ install: slow });
      await started;
      await assert.rejects(
        get({ precision: 'int4' }),
        (e: HubError) => e.kind === 'busy' && /another Get Model of tiny-org\/tiny-coder is running \(process \d+/.test(e.message),
      );
      letGo();
      await first;
      assert.ok(!fs.existsSync(lockPath(path.join(storageDir, 'downloads'), REPO)), 'the lock is released');
      await get({ precision: 'int4' });
    });

    it('takes over a stale lock whose process is gone', async () => {
      const lock = lockPath(path.join(storageDir, 'downloads'), REPO);
      fs.mkdirSync(path.dirname(lock), { recursive: true });
      fs.writeFileSync(lock, `${deadPid()}\n`);
      await get();
      assert.ok(!fs.existsSync(lock));
    });

    it("reclaims a killed install's staging folders on the next run, keeps a running one's, and lists leftovers with their size", async () => {
      const models = path.join(storageDir, 'models');
      const dead = deadPid();
      const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
      try {
        const staging = path.join(models, `.tiny-coder-int8.staging-${dead}`);
        const partial = path.join(models, `.tiny-coder-int8.staging-${dead}.partial-abc123`);
        const running = path.join(models, `.other-int8.staging-${live.pid}`);
        for (const d of [staging, partial, running]) {
          fs.mkdirSync(d, { recursive: true });
          fs.writeFileSync(path.join(d, 'model.onnx'), Buffer.alloc(5000));
        }
        // a partial download of another commit, left by a killed run
        const oldDownload = path.join(storageDir, 'downloads', 'tiny-org--tiny-coder', 'f'.repeat(40));
        fs.mkdirSync(oldDownload, { recursive: true });
        fs.writeFileSync(path.join(oldDownload, SHARD + PART_SUFFIX), Buffer.alloc(7000));
        const listed = await findLeftovers(storageDir);
        assert.deepEqual(listed.map((l) => [l.kind, path.basename(l.folder), l.bytes, l.partial]).sort(), [
          ['download', 'f'.repeat(40), 7000, true],
          ['staging', path.basename(staging), 5000, undefined],
          ['staging', path.basename(partial), 5000, undefined],
        ]);
        await get();
        assert.ok(!fs.existsSync(staging) && !fs.existsSync(partial), "the dead process's folders are reclaimed");
        assert.ok(fs.existsSync(running), "a running install's folder is kept");
        assert.deepEqual((await findLeftovers(storageDir)).map((l) => [l.kind, path.basename(l.folder), l.partial]).sort(), [
          ['download', 'f'.repeat(40), true],
        ]);
      } finally {
        live.kill();
      }
    });
  });
});
