// Issue 29, item 4: every error names the next step. A checkpoint folder or a missing folder given as --model, convert
// without --out, a repository the Hub does not have, an unreachable Hub (no proxy suggested to the command line, which
// uses none), the first progress line of a resumed download, and the token file as huggingface_hub finds it.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { main as convertMain } from '../../../src/cli/convert';
import { main as completeMain } from '../../../src/cli/complete';
import { getModel } from '../../../src/hub/getModel';
import { downloadFiles, hfToken, listFiles, selectFiles, type DownloadProgress } from '../../../src/hub/hubClient';
import { modelFolderNextStep } from '../../../src/hub/nextStep';
import { FakeHub, writePlainCheckpoint } from './fakeHub';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const REPO = 'tiny-org/tiny-coder';
const SHARD = 'model-00001-of-00002.safetensors';

describe('every message names the next step (issue 29)', () => {
  let tmp: string;
  let hub: FakeHub;
  let endpoint: string;
  beforeEach(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-nextstep-'));
    writePlainCheckpoint(path.join(tmp, 'hub'));
    hub = new FakeHub();
    hub.repos.set(REPO, { dir: path.join(tmp, 'hub'), commit: 'b'.repeat(40) });
    endpoint = await hub.start();
    process.env.HF_HOME = path.join(tmp, 'hf-home');
  });
  afterEach(async () => {
    delete process.env.HF_TOKEN;
    delete process.env.HF_TOKEN_PATH;
    await hub.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('--model naming a checkpoint folder suggests npm run convert; a missing folder suggests Get Model', async () => {
    const checkpoint = path.join(tmp, 'hub');
    const args = (model: string) => ['--model', model, '--file', path.join(ROOT, 'examples', 'primes.py'), '--line', '13', '--col', '40'];
    await assert.rejects(completeMain(args(checkpoint)), (e: Error) => {
      assert.match(e.message, /unmask\.json/);
      assert.match(
        e.message,
        /is a Hugging Face checkpoint \(config\.json and safetensors\), not a model folder: convert it first with npm run convert -- ".*hub" --out MODEL_FOLDER/,
      );
      return true;
    });
    await assert.rejects(
      completeMain(args(path.join(tmp, 'nowhere'))),
      /model folder not found; there is no folder .*nowhere: get one with npm run get-model -- open-dcoder-0\.5b/,
    );
    assert.match(modelFolderNextStep(path.join(tmp, 'nowhere'), 'editor')!, /run "Unmask: Get Model…"/);
    assert.equal(modelFolderNextStep(path.join(ROOT, 'models', 'default'), 'cli'), undefined, 'a model folder needs no advice');
  });

  it('convert without --out says that --out is missing and why', async () => {
    const errors: string[] = [];
    const original = console.error;
    console.error = (...a: unknown[]) => void errors.push(a.join(' '));
    try {
      assert.equal(await convertMain([path.join(tmp, 'hub')]), 1);
      assert.equal(await convertMain([]), 1);
    } finally {
      console.error = original;
    }
    assert.match(
      errors[0],
      /^convert: --out is missing: the model folder to write must be named .*--out ~\/models\/hub-int8.*never writes into the checkpoint folder\nusage:/,
    );
    assert.match(errors[1], /^convert: no checkpoint folder named: .*npm run get-model -- OWNER\/NAME/);
  });

  it('a repository the Hub does not have: "no such repository", with the catalog; an unreachable Hub: no proxy suggested to the command line', async () => {
    await assert.rejects(getModel({ source: 'nobody/nothing', storageDir: tmp, endpoint, install: async () => undefined }), (e: Error) => {
      assert.match(e.message, /nobody\/nothing: the Hub has no such repository .*set HF_TOKEN.*catalog's code diffusion models: open-dcoder-0\.5b/);
      assert.doesNotMatch(e.message, /has no that/);
      return true;
    });
    await assert.rejects(listFiles(REPO, 'v9', { endpoint }), /the Hub has no such revision of this repository .*; check --revision/);
    await assert.rejects(listFiles(REPO, 'main', { endpoint: 'http://127.0.0.1:1' }), (e: Error) => {
      assert.match(
        e.message,
        /ECONNREFUSED \(no connection to the Hub: check the network and HF_ENDPOINT \(the command line connects directly, without a proxy/,
      );
      assert.doesNotMatch(e.message, /or the proxy\)/);
      return true;
    });
  });

  it("a resumed download's first progress line names the file being fetched, not one already on disk", async () => {
    const dest = path.join(tmp, 'dl');
    const listing = await listFiles(REPO, 'main', { endpoint });
    const files = selectFiles(listing);
    hub.cut = { file: SHARD, after: 100_000 };
    await assert.rejects(downloadFiles(listing, files, dest, { endpoint, retries: 0 }));
    const progress: DownloadProgress[] = [];
    await downloadFiles(listing, files, dest, { endpoint, retries: 0, onProgress: (p) => progress.push(p) });
    assert.equal(progress[0].file, SHARD);
    assert.ok(progress[0].bytes >= 100_000, 'it counts what is on disk already');
  });

  it('reads the token from HF_TOKEN, else HF_TOKEN_PATH, else HF_HOME/token', async () => {
    hub.repos.get(REPO)!.token = 'hf_from_file';
    await assert.rejects(listFiles(REPO, 'main', { endpoint }), /needs a Hugging Face token/);
    fs.mkdirSync(process.env.HF_HOME!, { recursive: true });
    fs.writeFileSync(path.join(process.env.HF_HOME!, 'token'), 'hf_from_file\n');
    assert.equal((await listFiles(REPO, 'main', { endpoint })).commit, 'b'.repeat(40));
    fs.writeFileSync(path.join(tmp, 'other-token'), 'hf_other');
    process.env.HF_TOKEN_PATH = path.join(tmp, 'other-token');
    assert.equal(hfToken(), 'hf_other');
    process.env.HF_TOKEN = 'hf_env';
    assert.equal(hfToken(), 'hf_env');
  });
});
