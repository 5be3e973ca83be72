// JSON bombs (reliability round 2, B): a 62 MB tokenizer.json of nested brackets, under the 64 MiB size limit, blocked
// the server in JSON.parse (1.7 GB, then killed by the liveness check with a message that named neither file nor
// folder), and the CLI spent 24 s and 3 GB before refusing. Now src/model/jsonBudget.ts scans the text before
// JSON.parse and the tokenizer library see it, and the error names the file and the nesting.
// Against the code before the fix: the server is killed as hung (ServerHung, not a ModelLoadError naming
// tokenizer.json), the CLI's message does not name the nesting, the deep manifest's message names no nesting.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { readJson } from '../../../src/convert/tokenizerPrep';
import { JSON_BUDGET, jsonBudgetProblem } from '../../../src/model/jsonBudget';
import { cliAtFibonacci, hostileCopy, LOAD, MODEL_DIR, newClient, slow } from './helpers';

/** `depth` opening then `depth` closing brackets, written in chunks (2 × depth bytes). */
function nestedBrackets(file: string, depth: number): void {
  if (fs.existsSync(file)) fs.unlinkSync(file); // a link to the bundled file in a hostile copy: never write through it
  const fd = fs.openSync(file, 'w');
  const chunk = 1 << 20;
  for (const ch of ['[', ']']) {
    for (let left = depth; left > 0; left -= chunk) fs.writeSync(fd, ch.repeat(Math.min(chunk, left)));
  }
  fs.closeSync(fd);
}
const BOMB_DEPTH = 31_000_000; // 62 MB, under the tokenizer's 64 MiB limit

describe('fault: JSON files past their budget', function () {
  this.timeout(120_000);

  it('a 62 MB tokenizer.json of nested brackets: the server refuses it naming the file and the nesting, and serves on', async () => {
    const folder = hostileCopy((d) => nestedBrackets(path.join(d, 'tokenizer.json'), BOMB_DEPTH));
    const client = newClient({ loadTimeoutMs: 30_000 });
    try {
      await client.load(LOAD);
      const pid = client.pid;
      await assert.rejects(client.load({ ...LOAD, modelDir: folder.dir }), (e: Error) => {
        assert.equal(e.name, 'ModelLoadError', e.message);
        assert.match(e.message, /tokenizer\.json: nests arrays and objects deeper than 64 levels \(at byte 64\).*refused before parsing it/);
        return true;
      });
      assert.equal(client.pid, pid, 'the server was not killed');
      assert.equal((await client.complete(slow(2))).stats.forwards, 2);
    } finally {
      client.dispose();
      folder.remove();
    }
  });

  it('the CLI refuses the same folder naming tokenizer.json', () => {
    const folder = hostileCopy((d) => nestedBrackets(path.join(d, 'tokenizer.json'), BOMB_DEPTH));
    try {
      const r = cliAtFibonacci(['--model', folder.dir], 90_000);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /tokenizer\.json: nests arrays and objects deeper than 64 levels/);
    } finally {
      folder.remove();
    }
  });

  it('an unmask.json nested 400,000 deep (under its 1 MiB limit) is refused naming it', async () => {
    const folder = hostileCopy((d) => nestedBrackets(path.join(d, 'unmask.json'), 400_000));
    const client = newClient();
    try {
      await client.load(LOAD);
      await assert.rejects(client.load({ ...LOAD, modelDir: folder.dir }), /unmask\.json: nests arrays and objects deeper than 64 levels/);
    } finally {
      client.dispose();
      folder.remove();
    }
  });

  it("the converter refuses a checkpoint's config.json nested 1,000,000 deep naming it", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-ckpt-'));
    try {
      nestedBrackets(path.join(dir, 'config.json'), 1_000_000);
      assert.throws(() => readJson(path.join(dir, 'config.json'), 'the configuration'), /config\.json.*nests arrays and objects deeper than 64 levels/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the budget passes the bundled files and reads brackets inside strings as text', () => {
    for (const f of ['tokenizer.json', 'unmask.json']) assert.equal(jsonBudgetProblem(fs.readFileSync(path.join(MODEL_DIR, f), 'utf8')), undefined, f);
    const deepInString = JSON.stringify({ text: '['.repeat(1000), quote: 'a \\" [[[ \\\\', more: '{'.repeat(500) });
    assert.equal(jsonBudgetProblem(deepInString), undefined);
    assert.equal(jsonBudgetProblem(`${'['.repeat(64)}${']'.repeat(64)}`), undefined);
    assert.match(jsonBudgetProblem(`${'['.repeat(65)}${']'.repeat(65)}`) ?? '', /deeper than 64 levels \(at byte 64\)/);
    assert.match(jsonBudgetProblem(`[${'[],'.repeat(100)}[]]`, { ...JSON_BUDGET, containers: 50 }) ?? '', /more than 50 arrays and objects/);
    assert.match(jsonBudgetProblem(`[${'1,'.repeat(100)}1]`, { ...JSON_BUDGET, values: 50 }) ?? '', /more than 50 values/);
  });
});
