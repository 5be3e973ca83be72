// The model store (src/hub/store.ts): origin.json read through its parser, so Manage Models lists a folder whose
// origin is malformed instead of breaking on it; and the one repository-id check, as both of its callers use it (Get
// Model's resolveSource and the editor's input box, which had a pattern of its own that let `-x/y` through).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveSource } from '../../../src/hub/getModel';
import { HubError, repoIdProblem } from '../../../src/hub/hubClient';
import { installedModels, modelFolder, ORIGIN_FILE, parseLeftoverName, parseOrigin, stagingFolder, type Origin } from '../../../src/hub/store';

const ORIGIN: Origin = {
  repo: 'tiny-org/tiny-coder',
  revision: 'main',
  commit: 'b'.repeat(40),
  precision: 'int8',
  endpoint: 'https://huggingface.co',
  installed: '2025-01-01T00:00:00.000Z',
};

describe('model store', () => {
  let tmp: string;
  beforeEach(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-store-'))));
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('parses an origin record and refuses one that is not, naming the field', () => {
    assert.deepEqual(parseOrigin(JSON.stringify({ ...ORIGIN, catalog: 'tiny', license: 'mit', extra: 1 })), { ...ORIGIN, catalog: 'tiny', license: 'mit' });
    // what Get Model decides by is enough (records written by hand or by older versions)
    const least = { repo: ORIGIN.repo, commit: ORIGIN.commit, precision: ORIGIN.precision };
    assert.deepEqual(parseOrigin(JSON.stringify(least)), least);
    assert.throws(() => parseOrigin('{"repo": '), /origin\.json: not JSON/);
    assert.throws(() => parseOrigin('[]'), /expected an object/);
    assert.throws(() => parseOrigin('null'), /expected an object/);
    assert.throws(() => parseOrigin(JSON.stringify({ ...ORIGIN, commit: 7 })), /"commit" must be a non-empty string/);
    assert.throws(() => parseOrigin(JSON.stringify({ ...ORIGIN, precision: 'int3' })), /"precision" must be one of/);
    assert.throws(() => parseOrigin(JSON.stringify({ ...ORIGIN, license: 3 })), /"license" must be a string/);
    assert.throws(() => parseOrigin(JSON.stringify({ ...ORIGIN, installed: {} })), /"installed" must be a string/);
  });

  it('Manage Models lists a model whose origin.json is malformed, without an origin, beside one whose origin is good', async () => {
    const good = modelFolder(tmp, 'good', 'int8');
    const bad = modelFolder(tmp, 'bad', 'int8');
    const notJson = modelFolder(tmp, 'broken', 'int4');
    for (const f of [good, bad, notJson]) {
      fs.mkdirSync(f, { recursive: true });
      fs.writeFileSync(path.join(f, 'unmask.json'), '{}');
    }
    fs.writeFileSync(path.join(good, ORIGIN_FILE), JSON.stringify(ORIGIN));
    fs.writeFileSync(path.join(bad, ORIGIN_FILE), JSON.stringify({ repo: ['x'], commit: null }));
    fs.writeFileSync(path.join(notJson, ORIGIN_FILE), '\u0000not json');
    fs.mkdirSync(stagingFolder(good, 1)); // a leftover, not a model
    const listed = await installedModels(tmp);
    assert.deepEqual(
      listed.map((m) => [m.name, m.origin]),
      [
        ['bad-int8', undefined],
        ['broken-int4', undefined],
        ['good-int8', ORIGIN],
      ],
    );
  });

  it('names staging and replaced folders so that a later run can tell whose they are', () => {
    const final = modelFolder(tmp, 'tiny-coder', 'int8');
    assert.deepEqual(parseLeftoverName(path.basename(stagingFolder(final, 42))), { model: 'tiny-coder-int8', kind: 'staging', pid: 42 });
    assert.deepEqual(parseLeftoverName('.tiny-coder-int8.staging-42.partial-7-abc'), { model: 'tiny-coder-int8', kind: 'staging', pid: 42 });
    assert.deepEqual(parseLeftoverName('.tiny-coder-int8.old-9'), { model: 'tiny-coder-int8', kind: 'old', pid: 9 });
    assert.equal(parseLeftoverName('tiny-coder-int8'), undefined);
  });

  // ids the two former patterns judged differently (the editor's let a leading '-', '_' or '.' and '..' through), and plain ones
  const REPO_IDS: [string, boolean][] = [
    ['fredzzp/open-dcoder-0.5B', true],
    ['Org_1/name.v2', true],
    ['-org/name', false],
    ['_org/name', false],
    ['.org/name', false],
    ['org/..', false],
    ['org/a..b', false],
    ['org/name/extra', false],
    ['org/', false],
    ['org/na me', false],
  ];

  it("the editor's input box: accepts a repository id exactly when Get Model does", () => {
    for (const [id, ok] of REPO_IDS) assert.equal(repoIdProblem(id) === undefined, ok, id);
    assert.match(repoIdProblem('-org/name')!, /expected OWNER\/NAME/);
  });

  it('Get Model (resolveSource): the same ids, refused as a layout error before anything is fetched', () => {
    for (const [id, ok] of REPO_IDS) {
      if (ok) assert.equal(resolveSource(id).repo, id);
      else
        assert.throws(
          () => resolveSource(id),
          (e: unknown) => e instanceof HubError && e.kind === 'layout' && /is not a Hub repository id/.test(e.message),
          id,
        );
    }
  });
});
