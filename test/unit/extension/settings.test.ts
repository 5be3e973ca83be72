import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkModelFolderAsync as checkModelFolder } from '../../../src/modelFolder';
import { resolveThreads } from '../../../src/engine/bounds';
import { DEFAULT_POLICY } from '../../../src/engine/policyTable';
import { defaultSettings, isLanguageEnabled, readSettings } from '../../../src/settings';

describe('settings', () => {
  const from = (values: Record<string, unknown>) => (key: string) => values[key];

  it("reads valid values and puts the policy parameter in the policy's own field", () => {
    const { settings, problems } = readSettings(from({ policy: 'fixed', policyParameter: 3, singleLineSlots: 16 }));
    assert.deepEqual(problems, []);
    assert.deepEqual(settings.policy, { name: 'fixed', k: 3 });
    assert.equal(settings.singleLineSlots, 16);
  });

  it('an unset policy is the default policy, by name (it used to become { name: { name: "factor" } })', () => {
    const { settings, problems } = readSettings(from({}));
    assert.deepEqual(problems, []);
    assert.equal(typeof settings.policy.name, 'string');
    assert.deepEqual(settings.policy, { name: DEFAULT_POLICY.name }, "the parameter left to the table's default");
    const withParameter = readSettings(from({ policyParameter: 3 })).settings.policy;
    assert.deepEqual(withParameter, { name: DEFAULT_POLICY.name, f: 3 });
  });

  it('names an invalid setting and keeps its previous good value', () => {
    const previous = { ...defaultSettings, debounceMs: 300 };
    const { settings, problems } = readSettings(from({ debounceMs: -5, executionProvider: 'tpu' }), previous);
    assert.equal(settings.debounceMs, 300);
    assert.equal(settings.executionProvider, 'auto');
    assert.equal(problems.length, 2);
    assert.match(problems[0], /^unmask\.executionProvider: expected/);
    assert.match(problems[1], /^unmask\.debounceMs: expected an integer from 0 to 2000, got -5; keeping 300/);
  });

  it('refuses a τ outside [0, 1] for threshold', () => {
    const { settings, problems } = readSettings(from({ policy: 'threshold', policyParameter: 1.5 }));
    assert.deepEqual(settings.policy, { name: 'threshold' });
    assert.match(problems[0], /unmask\.policyParameter: tau for threshold must be a number in \[0, 1\]/);
  });

  it('refuses a relative model folder', () => {
    const { settings, problems } = readSettings(from({ modelFolder: 'models/mine' }));
    assert.equal(settings.modelFolder, '');
    assert.match(problems[0], /^unmask\.modelFolder: expected an absolute folder path/);
  });

  it('enables languages by their own entry, else by "*"', () => {
    assert.equal(isLanguageEnabled(defaultSettings, 'python'), true);
    assert.equal(isLanguageEnabled(defaultSettings, 'markdown'), false);
    assert.equal(isLanguageEnabled({ ...defaultSettings, enabledLanguages: { '*': false, rust: true } }, 'python'), false);
  });

  it('uses half the cores, 1 to 4, for threads = 0', () => {
    assert.deepEqual([resolveThreads(0, 1), resolveThreads(0, 2), resolveThreads(0, 6), resolveThreads(0, 16), resolveThreads(6, 2)], [1, 1, 3, 4, 6]);
  });
});

describe('checkModelFolder', () => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-model-'));
  after(() => fs.rmSync(folder, { recursive: true, force: true }));

  it('says a folder does not exist', async () => {
    assert.equal(await checkModelFolder(path.join(folder, 'nope')), `${path.join(folder, 'nope')} does not exist`);
  });

  it('says which manifest field names a missing file, then accepts the folder once it is there', async () => {
    assert.match((await checkModelFolder(folder))!, /has no unmask\.json/);
    const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'models', 'default', 'unmask.json'), 'utf8'));
    fs.writeFileSync(path.join(folder, 'unmask.json'), JSON.stringify({ ...manifest, files: { model: 'model.onnx', tokenizer: 'tokenizer.json' } }));
    fs.writeFileSync(path.join(folder, 'tokenizer.json'), '{}');
    assert.match((await checkModelFolder(folder))!, /"files\.model" names model\.onnx, which is not in/);
    fs.writeFileSync(path.join(folder, 'model.onnx'), '');
    assert.match((await checkModelFolder(folder))!, /"files\.model" names model\.onnx\.data, which is not in/);
    fs.writeFileSync(path.join(folder, 'model.onnx.data'), '');
    assert.equal(await checkModelFolder(folder), undefined);
  });

  it("checks every manifest field with the loader's own parser, naming the field", async () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(folder, 'unmask.json'), 'utf8'));
    fs.writeFileSync(path.join(folder, 'unmask.json'), JSON.stringify({ ...manifest, vocabSize: -1 }));
    assert.match((await checkModelFolder(folder))!, /field "vocabSize" is -1/);
    fs.writeFileSync(path.join(folder, 'unmask.json'), JSON.stringify({ ...manifest, format: 1 }));
    assert.match((await checkModelFolder(folder))!, /"format" is 1.*npm run convert/s);
    fs.writeFileSync(path.join(folder, 'unmask.json'), JSON.stringify(manifest));
  });
});
