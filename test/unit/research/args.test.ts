import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { researchArgs, ROOT } from '../../../research/args';

describe("research/args.ts: the research scripts' one argument parser", () => {
  const spec = {
    usage: 'test script',
    defaults: { tasks: 'training/.work/filter/tasks', threads: 2 },
    options: { policy: { help: 'the policy', default: 'sequential' }, models: { help: 'folders' } },
  };

  it("gives the script's defaults, paths inside the repository", () => {
    const a = researchArgs(spec, []);
    assert.equal(a.tasks, path.join(ROOT, 'training', '.work', 'filter', 'tasks'));
    assert.equal(a.model, path.join(ROOT, 'models', 'default'));
    assert.equal(a.threads, 2);
    assert.equal(a.limit, undefined);
    assert.equal(a.out, undefined);
    assert.deepEqual(a.own, { policy: 'sequential', models: undefined });
  });

  it("reads the shared options and the script's own, a given path relative to the working directory", () => {
    const a = researchArgs(spec, [
      '--tasks',
      'some/tasks',
      '--limit',
      '7',
      '--threads',
      '1',
      '--out',
      'x.json',
      '--model',
      '/m',
      '--policy',
      'factor:2',
      '--models',
      'a,b',
    ]);
    assert.equal(a.tasks, path.resolve('some/tasks'));
    assert.equal(a.out, path.resolve('x.json'));
    assert.equal(a.model, '/m');
    assert.equal(a.limit, 7);
    assert.equal(a.threads, 1);
    assert.deepEqual(a.own, { policy: 'factor:2', models: 'a,b' });
  });

  it('refuses an unknown option, a count that is not a whole number ≥ 1, and positionals it does not take', () => {
    assert.throws(() => researchArgs(spec, ['--min-confidence', '0']), /Unknown option '--min-confidence'[\s\S]*--policy X/);
    assert.throws(() => researchArgs(spec, ['--limit', '0']), /--limit must be a whole number of at least 1, got "0"/);
    assert.throws(() => researchArgs(spec, ['--threads', '1.5']), /--threads must be/);
    assert.throws(() => researchArgs(spec, ['agreement']), /positional/);
    assert.deepEqual(researchArgs({ ...spec, positionals: ['mode'] }, ['speed']).positionals, ['speed']);
  });

  it('refuses a script option that redeclares a shared one', () => {
    assert.throws(() => researchArgs({ usage: 'x', options: { limit: { help: 'again' } } }, []), /--limit is a shared option/);
  });
});
