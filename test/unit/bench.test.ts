import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { frontierSvg } from '../../src/bench/frontier';
import { main as benchMain } from '../../src/cli/bench';
import { accuracyUnderParallelism, editSimilarity, exactMatch, percentile } from '../../src/bench/metrics';
import { parseBenchPolicy } from '../../src/bench/policyArg';
import { chooseGate, gateTable } from '../../src/bench/run';
import { chooseDefault } from '../../src/bench/run';
import { readTaskFile } from '../../src/bench/tasks';

describe('benchmark measures', () => {
  it('exact match ignores whitespace at the ends only', () => {
    assert.equal(exactMatch('  return a + b\n', 'return a + b'), true);
    assert.equal(exactMatch('return a+b', 'return a + b'), false);
  });

  it('edit similarity is 1 − Levenshtein / longer length', () => {
    assert.equal(editSimilarity('kitten', 'sitting'), 1 - 3 / 7);
    assert.equal(editSimilarity('', 'abc'), 0);
    assert.equal(editSimilarity(' same ', 'same'), 1);
  });

  it('percentile takes the nearest rank', () => {
    const xs = [5, 1, 4, 2, 3];
    assert.equal(percentile(xs, 50), 3);
    assert.equal(percentile(xs, 95), 5);
    assert.equal(percentile(xs, 0), 1);
  });

  it('AUP integrates weighted accuracy over tokens per forward and drops points 5 below the first', () => {
    // sequential at 1 tpf, 20%; a policy at 3 tpf, 20%: rectangle 1×20 + trapezoid 2×20
    assert.equal(
      accuracyUnderParallelism(
        [
          { tpf: 1, accuracy: 20 },
          { tpf: 3, accuracy: 20 },
        ],
        20,
      ),
      60,
    );
    // a point more than 5 points below the first is left out
    assert.equal(
      accuracyUnderParallelism(
        [
          { tpf: 1, accuracy: 20 },
          { tpf: 5, accuracy: 10 },
        ],
        20,
      ),
      20,
    );
    // losing accuracy is penalised beyond its linear share
    const lossy = accuracyUnderParallelism(
      [
        { tpf: 1, accuracy: 20 },
        { tpf: 3, accuracy: 16 },
      ],
      20,
    );
    assert.ok(lossy < 20 + 2 * 18, `AUP ${lossy} should be below the unweighted area`);
  });
});

describe('benchmark arguments and files', () => {
  it('parses policies with parameters and options', () => {
    assert.deepEqual(parseBenchPolicy('threshold:0.9'), { label: 'threshold:0.9', family: 'threshold', spec: { name: 'threshold', tau: 0.9 }, eotp: true });
    const p = parseBenchPolicy('entropy:0.5+noeotp+block32');
    assert.deepEqual([p.spec, p.eotp, p.blockSize, p.family], [{ name: 'entropy', gamma: 0.5 }, false, 32, 'entropy+noeotp+block32']);
    assert.throws(() => parseBenchPolicy('greedy'), /unknown policy "greedy"/);
    assert.deepEqual(parseBenchPolicy('fixed').spec, { name: 'fixed' }, "a bare name takes the table's default");
    assert.throws(() => parseBenchPolicy('threshold:1.5'), /tau = 1.5 of threshold is out of range \(expected 0…1\)/);
    assert.throws(() => parseBenchPolicy('sequential:2'), /takes no parameter/);
    assert.throws(() => parseBenchPolicy('fixed:2+fast'), /unknown option "\+fast"/);
  });

  it('reads gzipped task files and decides single-line from the truths', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-tasks-'));
    const file = path.join(dir, 'mini.jsonl.gz');
    const tasks = [
      { task_id: 'a', prompt: 'x = ', suffix: '\n', canonical_solution: '1' },
      { task_id: 'b', prompt: 'def f():\n', suffix: '', canonical_solution: '    a = 1\n    return a' },
    ];
    fs.writeFileSync(file, zlib.gzipSync(tasks.map((t) => JSON.stringify(t)).join('\n')));
    const read = readTaskFile(file);
    assert.equal(read.name, 'mini');
    assert.equal(read.tasks.length, 2);
    assert.equal(read.singleLine, false);
    assert.equal(readTaskFile(file, 1).singleLine, true);
  });

  it('names the line and field of a broken task, and refuses a file with no valid task', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-tasks-')), 'bad.jsonl');
    fs.writeFileSync(file, '{"task_id": "a", "prompt": "x", "suffix": ""}\n');
    assert.throws(() => readTaskFile(file), /no valid tasks \(.*bad\.jsonl:1: field "canonical_solution" must be a string/);
  });

  it('plots one line per family and marks sequential', () => {
    const svg = frontierSvg(
      [
        { label: 'sequential', family: 'sequential', tpf: 1, exactMatch: 0.2, nonEmpty: 1 },
        { label: 'threshold:0.9', family: 'threshold', tpf: 2, exactMatch: 0.19, nonEmpty: 1 },
        { label: 'threshold:0.7', family: 'threshold', tpf: 3, exactMatch: 0.15, nonEmpty: 0.9 },
      ],
      'test',
    );
    assert.equal((svg.match(/<polyline/g) ?? []).length, 1);
    assert.match(svg, /<rect[^>]*fill="#000"><title>sequential/);
  });
});

describe('npm run bench on the bundled model', function () {
  this.timeout(300_000);

  it('writes a well-formed, consistent results.json and skips a malformed task line', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-bench-'));
    const fixture = path.join(__dirname, '..', 'fixtures', 'bench-tasks.jsonl');
    const errors: string[] = [];
    const log = console.log;
    const error = console.error;
    console.log = () => undefined;
    console.error = (line: string) => errors.push(String(line));
    try {
      assert.equal(await benchMain(['--tasks', fixture, '--policies', 'sequential,threshold:0.9', '--out', out]), 0);
    } finally {
      console.log = log;
      console.error = error;
    }
    assert.ok(
      errors.some((e) => /bench-tasks\.jsonl:2: not valid JSON; line skipped/.test(e)),
      errors.join('\n'),
    );
    const results = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8'));
    assert.equal(results.finished, true);
    assert.deepEqual(
      results.policies.map((p: { policy: string }) => p.policy),
      ['sequential', 'threshold:0.9'],
    );
    for (const p of results.policies) {
      assert.equal(p.tasks, 3);
      assert.ok(p.forwards >= 3, `${p.policy}: at least one forward per task`);
      assert.equal(p.tokensPerForward, Math.round((p.tokens / p.forwards) * 1000) / 1000);
      for (const key of ['exactMatch', 'nonEmpty', 'editSimilarity', 'agreeWithSequential']) {
        assert.ok(p[key] >= 0 && p[key] <= 1, `${p.policy}.${key} = ${p[key]}`);
      }
      assert.ok(p.latencyMsP50 > 0 && p.latencyMsP95 >= p.latencyMsP50);
    }
    assert.equal(results.policies[0].agreeWithSequential, 1);
    assert.match(fs.readFileSync(path.join(out, 'frontier.svg'), 'utf8'), /^<svg/);
    assert.match(fs.readFileSync(path.join(out, 'results.md'), 'utf8'), /\| threshold:0\.9 \|/);
  });
});

describe('choosing the default policy from the data', () => {
  const scores = (em: number, agree: number, forwards: number) => ({
    tasks: 10,
    exactMatch: em,
    nonEmpty: 1,
    editSimilarity: 0.5,
    agreeWithSequential: agree,
    forwardsMean: forwards,
    forwards: forwards * 10,
    tokens: 50,
    tokensPerForward: 5 / forwards,
    latencyMsP50: 1,
    latencyMsP95: 1,
  });
  const result = (policy: string, files: Record<string, [number, number, number]>) => {
    const byFile = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, scores(...v)]));
    const all = Object.values(files);
    return {
      policy,
      family: policy.split(':')[0],
      ...scores(all[0][0], all.reduce((s, v) => s + v[1], 0) / all.length, all.reduce((s, v) => s + v[2], 0) / all.length),
      byFile,
      gate: [],
    };
  };

  it('takes the fewest forwards among policies within 1 point of sequential on every file and ≥ 80% agreement', () => {
    const results = [
      result('sequential', { a: [0.3, 1, 10], b: [0.2, 1, 30] }),
      result('threshold:0.9', { a: [0.3, 0.95, 5], b: [0.195, 0.9, 10] }),
      result('threshold:0.7', { a: [0.25, 0.85, 3], b: [0.2, 0.85, 6] }), // loses 5 points on a
      result('fixed:4', { a: [0.3, 0.7, 3], b: [0.2, 0.7, 8] }), // agrees too rarely
    ];
    assert.equal(chooseDefault(results)?.policy, 'threshold:0.9');
    assert.equal(chooseDefault(results.slice(2)), undefined);
  });
});

describe('the confidence gate', () => {
  const outcome = (text: string, truth: string, confidence: number) => ({ text, truth, confidence });
  const outcomes = [
    outcome('return a + b', 'return a + b', 0.9),
    outcome('return a - b', 'return a + b', 0.6),
    outcome('zzzz qqqq', 'return a + b', 0.2),
    outcome('', 'return a + b', 0),
    outcome('x x x x x x', 'return a + b', 0.1),
  ];

  it('counts what each gate value shows and how good that is', () => {
    const [none, , , , , mid] = gateTable(outcomes);
    assert.deepEqual([none.minConfidence, none.shown, none.exactOfShown, none.closeOfShown], [0, 0.8, 0.25, 0.5]);
    assert.deepEqual([mid.minConfidence, mid.shown, mid.exactOfShown, mid.closeOfShown], [0.6, 0.4, 0.5, 1]);
  });

  it('chooses the lowest gate at which most shown suggestions are close, else one that shows nothing', () => {
    assert.equal(chooseGate(gateTable(outcomes), 0.9), 0.3, 'at 0.3 the two shown are both close; at 0.2 one of three is not');
    assert.equal(chooseGate(gateTable(outcomes)), 0, 'no gate: half of what is shown is close already');
    const junk = [outcome('zzzz', 'return a + b', 0.3), outcome('qqqq', 'return a + b', 0.1)];
    assert.equal(chooseGate(gateTable(junk)), 0.4, 'never close: the lowest gate that shows nothing');
  });
});
