// Get Model's own steps around the converter: pinning, the preflight refusal, a model folder that appears only
// after the install step passed, cancellation. The install step here is a stand-in that writes a folder, so these
// cases do not wait on a conversion; getModelEndToEnd.test.ts runs the real converter.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getModel, type InstallJob, type Installer } from '../../../src/hub/getModel';
import { hubCacheDir, INCOMPLETE_SUFFIX } from '../../../src/hub/hfCache';
import { installedModels } from '../../../src/hub/store';
import { FakeHub, ROOMY, servePlainCheckpoint } from './fakeHub';

const REPO = 'tiny-org/tiny-coder';
const COMMIT = 'b'.repeat(40);
const roomy = ROOMY;

describe('get model', () => {
  let tmp: string;
  let hub: FakeHub;
  let endpoint: string;
  const jobs: InstallJob[] = [];
  const writesFolder: Installer = async (job) => {
    jobs.push(job);
    assert.ok(fs.existsSync(path.join(job.checkpointDir, 'config.json')), 'the install step sees the whole download');
    fs.mkdirSync(job.stagingDir, { recursive: true });
    fs.writeFileSync(path.join(job.stagingDir, 'unmask.json'), '{}');
    fs.renameSync(job.stagingDir, job.finalDir);
  };

  let close: () => Promise<void>;
  beforeEach(async () => {
    ({ tmp, hub, endpoint, close } = await servePlainCheckpoint('unmask-getmodel-', REPO, COMMIT));
    jobs.length = 0;
  });
  afterEach(() => close());

  it('downloads by the pinned commit into the Hugging Face cache, installs into storage/models/NAME-PRECISION and keeps the download there', async () => {
    const storageDir = path.join(tmp, 'storage');
    const got = await getModel({ source: REPO, storageDir, endpoint, machine: roomy, install: writesFolder });
    assert.equal(got.folder, path.join(storageDir, 'models', 'tiny-coder-int8'));
    assert.ok(fs.existsSync(path.join(got.folder, 'unmask.json')));
    assert.equal(got.origin.commit, COMMIT);
    assert.equal(jobs[0].checkpointDir, path.join(hubCacheDir(), 'models--tiny-org--tiny-coder', 'snapshots', COMMIT));
    assert.equal(path.dirname(jobs[0].stagingDir), path.dirname(got.folder), 'staging beside the final folder: one rename');
    assert.ok(fs.existsSync(path.join(jobs[0].checkpointDir, 'config.json')), 'the checkpoint stays in the shared cache once converted');
    // the same commit and precision again: already installed, nothing downloaded or converted
    fs.writeFileSync(path.join(got.folder, 'origin.json'), JSON.stringify(got.origin));
    const before = hub.log.length;
    const again = await getModel({ source: REPO, storageDir, endpoint, machine: roomy, install: writesFolder });
    assert.equal(again.folder, got.folder);
    assert.equal(jobs.length, 1);
    assert.equal(hub.log.slice(before).filter((l) => l.path.includes('/resolve/')).length, 0);
    // Manage Models' list: the model with its size and origin, not a staging folder left by a crash
    fs.mkdirSync(path.join(storageDir, 'models', '.other-int8.staging-1'));
    fs.writeFileSync(path.join(storageDir, 'models', '.other-int8.staging-1', 'unmask.json'), '{}');
    const listed = await installedModels(storageDir);
    assert.deepEqual(
      listed.map((m) => [m.name, m.origin?.repo, m.origin?.commit]),
      [['tiny-coder-int8', REPO, COMMIT]],
    );
    assert.equal(listed[0].bytes, 2 + fs.statSync(path.join(got.folder, 'origin.json')).size);
  });

  it('refuses before downloading when the disk is too small, saying how much is needed', async () => {
    const storageDir = path.join(tmp, 'storage');
    await assert.rejects(
      getModel({ source: REPO, storageDir, endpoint, install: writesFolder, machine: { freeBytes: async () => 1000, totalMemory: () => 64e9 } }),
      /cannot get tiny-org\/tiny-coder: not enough disk space .* 1 kB is free/,
    );
    assert.equal(hub.log.filter((l) => l.path.includes('/resolve/')).length, 0, 'nothing was downloaded');
  });

  it('leaves no model folder when the install step fails, and keeps the download for the next try', async () => {
    const storageDir = path.join(tmp, 'storage');
    const failing: Installer = async (job) => {
      fs.mkdirSync(job.stagingDir, { recursive: true });
      throw new Error('config.json: "num_hidden_layers" must be a positive integer');
    };
    await assert.rejects(getModel({ source: REPO, storageDir, endpoint, machine: roomy, install: failing }), /num_hidden_layers/);
    assert.deepEqual(fs.readdirSync(path.join(storageDir, 'models')), [], 'neither the final nor the staging folder');
    const kept = path.join(hubCacheDir(), 'models--tiny-org--tiny-coder', 'snapshots', COMMIT);
    assert.ok(fs.existsSync(path.join(kept, 'model-00001-of-00002.safetensors')));
    const before = hub.log.length;
    await getModel({ source: REPO, storageDir, endpoint, machine: roomy, install: writesFolder });
    assert.equal(hub.log.slice(before).filter((l) => l.path.includes('/resolve/')).length, 0, 'the second try downloaded nothing again');
  });

  it('cancelled mid-download: no model folder, the partial file kept', async () => {
    const storageDir = path.join(tmp, 'storage');
    const controller = new AbortController();
    await assert.rejects(
      getModel({
        source: REPO,
        storageDir,
        endpoint,
        machine: roomy,
        install: writesFolder,
        signal: controller.signal,
        onProgress: (p) => {
          if (p.phase === 'download' && p.file.endsWith('.safetensors') && p.bytes > 150_000) controller.abort();
        },
      }),
      (e: Error) => e.name === 'Cancelled',
    );
    assert.equal(jobs.length, 0);
    assert.ok(!fs.existsSync(path.join(storageDir, 'models', 'tiny-coder-int8')));
    const blobs = path.join(hubCacheDir(), 'models--tiny-org--tiny-coder', 'blobs');
    assert.ok(
      fs.readdirSync(blobs).some((n) => n.endsWith(INCOMPLETE_SUFFIX)),
      "the partial blob is kept under huggingface_hub's name",
    );
  });

  it('names the catalog when the source is neither a catalog name nor OWNER/NAME', async () => {
    await assert.rejects(
      getModel({ source: 'starcoder', storageDir: tmp, endpoint, install: writesFolder }),
      /neither a catalog model \(open-dcoder-0\.5b, .*\) nor a Hub repository/,
    );
  });
});
