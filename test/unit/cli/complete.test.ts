import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { completeFile, cursorContext } from '../../../src/cli/complete';
import { isSingleLine } from '../../../src/engine/request';
import { readModelFolder } from '../../../src/model';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const FIB = path.join(ROOT, 'examples', 'fibonacci.py');

describe('complete CLI: the cursor', () => {
  const text = 'def f(x):\n    return x + 1\n';

  it('splits the file at 1-based line and column', () => {
    assert.deepEqual(cursorContext(text, 2, 12), { before: 'def f(x):\n    return ', after: 'x + 1\n' });
    assert.equal(isSingleLine(cursorContext(text, 2, 12).after), true);
  });

  it('completes multi-line at the end of a line or on an empty line', () => {
    assert.equal(isSingleLine(cursorContext(text, 2, 17).after), false); // one past the end of "    return x + 1"
    assert.equal(isSingleLine(cursorContext(text, 3, 1).after), false);
    assert.equal(isSingleLine(cursorContext('a = 1   \r\nb', 1, 6).after), false); // only spaces and \r to the right
  });

  it('says what is out of range', () => {
    assert.throws(() => cursorContext(text, 9, 1, 'f.py'), /line 9 is out of range: f\.py has 3 lines/);
    assert.throws(() => cursorContext(text, 1, 11, 'f.py'), /column 11 is out of range: line 1 of f\.py has 9 characters \(columns 1…10\)/);
  });
});

describe('complete CLI: on the shipped model', function () {
  this.timeout(60_000);

  it('completes a fixture file with a trace that adds up', async () => {
    const trace = await completeFile({ file: FIB, line: 9, col: 20, policy: { name: 'sequential' }, threads: 2 });
    const { tokenizer } = readModelFolder(path.join(ROOT, 'models', 'default'));
    const unmasked = trace.steps.flatMap((s) => s.unmasked);
    assert.deepEqual(
      unmasked.map((u) => u.slot).sort((a, b) => a - b),
      Array.from({ length: trace.slots }, (_, i) => i),
    );
    assert.equal(trace.steps.length, trace.stats.forwards);
    for (const u of unmasked) assert.equal(trace.slotTokens[u.slot], u.token);
    const real = trace.slotTokens.filter((t) => t > 1);
    assert.equal(trace.stats.tokens, real.length);
    assert.equal(trace.rawText, tokenizer.decode(real));
    assert.ok(trace.rawText.startsWith(trace.result.text), 'shaping only cuts');
    assert.ok(trace.result.text.trim() !== '', 'the completion is empty');
    assert.equal(trace.singleLine, true);
  });

  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src', 'cli', 'complete.ts'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });

  it('prints the trace with --json', () => {
    const r = cli('--file', FIB, '--line', '10', '--col', '30', '--json', '--policy', 'fixed:3', '--slots', '12', '--time-budget', '0');
    assert.equal(r.status, 0, r.stderr);
    const trace = JSON.parse(r.stdout);
    assert.deepEqual(trace.policy, { name: 'fixed', k: 3, eotp: true });
    assert.equal(trace.slots, 12);
  });

  it('a --json trace larger than a pipe buffer reaches the reader whole', () => {
    const r = cli('--file', FIB, '--line', '7', '--col', '1', '--json', '--policy', 'sequential', '--no-eotp', '--slots', '64', '--time-budget', '0');
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stdout.length > 65_536, `only ${r.stdout.length} characters: too small to test the pipe`);
    assert.equal(JSON.parse(r.stdout).stats.forwards, 64);
  });

  it('shows what the editor would: the gate decides, stderr says the confidence and why nothing was printed', () => {
    const at = ['--file', FIB, '--line', '9', '--col', '20', '--policy', 'sequential', '--time-budget', '0'];
    const open = cli(...at, '--min-confidence', '0');
    assert.equal(open.status, 0, open.stderr);
    const text = open.stdout.replace(/\n$/, '');
    assert.ok(text.trim() !== '', 'with the gate open the completion is printed');
    const confidence = Number(/confidence ([0-9.]+), stopped by (\w+)/.exec(open.stderr)?.[1]);
    assert.ok(confidence > 0 && confidence < 1, open.stderr);
    const shut = cli(...at, '--min-confidence', '1');
    assert.equal(shut.status, 0, shut.stderr);
    assert.equal(shut.stdout, '', 'nothing printed below the gate');
    assert.match(shut.stderr, /not shown: confidence below --min-confidence 1 \(the editor's unmask\.minConfidence\)/);
    assert.ok(shut.stderr.includes(JSON.stringify(text)), 'stderr names the hidden completion');
  });

  it('refuses a gate or time budget out of range, naming the flag', () => {
    const r = cli('--file', FIB, '--line', '9', '--col', '20', '--min-confidence', '2');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--min-confidence/);
    const t = cli('--file', FIB, '--line', '9', '--col', '20', '--time-budget', '5');
    assert.equal(t.status, 1);
    assert.match(t.stderr, /--time-budget/);
  });

  it('a broken model folder: one clear line and exit code 1', () => {
    const r = cli('--file', FIB, '--line', '5', '--col', '12', '--model', path.join(ROOT, 'examples'));
    assert.equal(r.status, 1);
    // one line: what is missing, and the next step (src/hub/nextStep.ts)
    const line = r.stderr.trim();
    assert.ok(!line.includes('\n'), line);
    assert.ok(line.startsWith(`unmask complete: ${path.join(ROOT, 'examples', 'unmask.json')}: missing; `), line);
    assert.match(line, /npm run get-model -- open-dcoder-0\.5b .*or convert a checkpoint with npm run convert$/);
  });
});
