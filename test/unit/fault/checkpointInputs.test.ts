// Hostile checkpoints and command lines (reliability round 3, issue 27 items 5–8, the converter's and the CLI's part).
// Each is refused in seconds naming the file, field or limit, and nothing of the user's is deleted or quoted.
// Before the fix: config.json, tokenizer.json, tokenizer_config.json or the shard index as a link to /dev/zero grew
// past 6 GB and as a FIFO hung (the converter's JSON reader had no regular-file check and no size limit); a
// safetensors header of nested brackets took 2.7 GB; num_hidden_layers 1e9 ran out of memory after 168 s; a tokenizer
// of 10 million entries never finished; rope_theta 1e999 (Infinity) converted; overlapping tensors and duplicate
// header keys were accepted; a parse error quoted the first bytes of the file a link named; a killed conversion's
// partial folder was never removed; --force with --out the checkpoint deleted the checkpoint, and replaced any folder;
// `complete --file /dev/zero` took 4 GB and a FIFO hung; `complete --threads 64` ran 64 threads in process.
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { convert } from '../../../src/convert';
import { openCheckpoint } from '../../../src/convert/checkpoint';
import { readFamily } from '../../../src/convert/families';
import { openSafetensors } from '../../../src/convert/safetensors';
import { completeFile } from '../../../src/cli/complete';
import { CONFIG_LIMITS } from '../../../src/engine/bounds';
import { writeCheckpoint, writeSafetensors, type FixtureFamily, type FixtureOptions } from '../convert/checkpointFixtures';
import { ROOT } from './helpers';

const fifo = (file: string) => execFileSync('mkfifo', [file]);
const SECRET = 'SECRET-TOKEN-hf_abcdefghijklmnop';

let base: string;
let n = 0;
const checkpoint = (family: FixtureFamily = 'qwen2', opts: FixtureOptions = {}) => {
  const dir = path.join(base, `ckpt-${n++}`);
  writeCheckpoint(dir, family, opts);
  return dir;
};
/** Replaces `file` in `dir` with what `make` puts at the path (a link, a FIFO, other bytes). */
const replace = (dir: string, file: string, make: (at: string) => void) => {
  const at = path.join(dir, file);
  fs.rmSync(at, { force: true });
  make(at);
};

/** `npm run convert` in a child process, as a user runs it; its time, for the ≤ 10 s the issue asks. */
function convertCli(ckpt: string, ...args: string[]): { status: number | null; stderr: string; ms: number } {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src', 'cli', 'convert.ts'), ckpt, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: r.status, stderr: r.stderr, ms: Date.now() - t0 };
}

/** The CLI's refusal: exit 1 within 10 s, with `pattern` on stderr and never the secret. */
function assertRefused(r: { status: number | null; stderr: string; ms: number }, pattern: RegExp): void {
  assert.equal(r.status, 1, `exit ${r.status} after ${r.ms} ms: ${r.stderr.slice(-500)}`);
  assert.match(r.stderr, pattern);
  assert.ok(r.ms < 10_000, `took ${r.ms} ms`);
  assert.ok(!r.stderr.includes('SECRET'), r.stderr);
}

before(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-ckpt-fault-'));
  fs.writeFileSync(path.join(base, 'secret.txt'), `${SECRET}\nmore lines of the user's file\n`);
});
after(() => fs.rmSync(base, { recursive: true, force: true }));

describe('fault: checkpoint files that are not regular files or are too large', function () {
  this.timeout(60_000);
  const out = () => path.join(base, `out-${n++}`);

  const cases: [string, string, FixtureOptions, (at: string) => void, RegExp][] = [
    [
      'config.json as a link to /dev/zero',
      'config.json',
      {},
      (at) => fs.symlinkSync('/dev/zero', at),
      /config\.json: is not a regular file \(a device or socket\)/,
    ],
    ['config.json as a FIFO', 'config.json', {}, fifo, /config\.json: is not a regular file \(a FIFO\)/],
    ['tokenizer.json as a link to /dev/zero', 'tokenizer.json', {}, (at) => fs.symlinkSync('/dev/zero', at), /tokenizer\.json: is not a regular file/],
    ['tokenizer.json as a FIFO', 'tokenizer.json', {}, fifo, /tokenizer\.json: is not a regular file \(a FIFO\)/],
    ['tokenizer_config.json as a FIFO', 'tokenizer_config.json', {}, fifo, /tokenizer_config\.json: is not a regular file \(a FIFO\)/],
    [
      'the shard index as a link to /dev/zero',
      'model.safetensors.index.json',
      { shards: 2 },
      (at) => fs.symlinkSync('/dev/zero', at),
      /model\.safetensors\.index\.json: is not a regular file/,
    ],
    ['the shard index as a FIFO', 'model.safetensors.index.json', { shards: 2 }, fifo, /model\.safetensors\.index\.json: is not a regular file \(a FIFO\)/],
    ['a safetensors file as a FIFO', 'model.safetensors', {}, fifo, /model\.safetensors: is not a regular file \(a FIFO\)/],
    [
      'a config.json of 5 MB',
      'config.json',
      {},
      (at) => fs.writeFileSync(at, `{"pad": "${'x'.repeat(5_000_000)}"}`),
      /config\.json: is 5000011 bytes, more than the 4194304 bytes \(4 MiB\) the checkpoint's config\.json may have/,
    ],
  ];
  for (const [title, file, opts, make, pattern] of cases) {
    it(`${title}: refused in seconds naming it`, () => {
      const ckpt = checkpoint('qwen2', opts);
      replace(ckpt, file, make);
      assertRefused(convertCli(ckpt, '--out', out()), pattern);
    });
  }

  it('a tokenizer.json of 1.2 million vocabulary entries (17 MB, under its size limit) is refused before parsing', () => {
    const ckpt = checkpoint();
    replace(ckpt, 'tokenizer.json', (at) => {
      const fd = fs.openSync(at, 'w');
      fs.writeSync(fd, '{"model":{"type":"BPE","merges":[],"vocab":{');
      for (let i = 0; i < 1_200_000; i += 100_000) {
        const part: string[] = [];
        for (let j = i; j < i + 100_000; j++) part.push(`"t${j.toString(36)}":${j}`);
        fs.writeSync(fd, (i ? ',' : '') + part.join(','));
      }
      fs.writeSync(fd, '}}}');
      fs.closeSync(fd);
    });
    assertRefused(
      convertCli(ckpt, '--out', out()),
      /tokenizer\.json: holds an array or object of more than 1048576 members .*vocabulary and merges may have at most 1048576 entries/,
    );
  });

  it('a safetensors header of 50 MB of nested brackets is refused by its length, one of 10 MB by the JSON budget', async () => {
    for (const [mb, pattern] of [
      [50, /a header length of 50000000 bytes, more than the 16777216 \(16 MiB\) a safetensors header may have/],
      [10, /the header nests arrays and objects deeper than 64 levels .*refused before parsing it/],
    ] as const) {
      const ckpt = checkpoint();
      replace(ckpt, 'model.safetensors', (at) => {
        const half = (mb * 1e6) / 2;
        const len = Buffer.alloc(8);
        len.writeBigUInt64LE(BigInt(2 * half));
        fs.writeFileSync(at, Buffer.concat([len, Buffer.alloc(half, '['), Buffer.alloc(half, ']')]));
      });
      assertRefused(convertCli(ckpt, '--out', out()), pattern);
    }
  });
});

describe('fault: config numbers past their limits', function () {
  this.timeout(60_000);

  it('num_hidden_layers 1e9 is refused in seconds naming the field and the limit', () => {
    const ckpt = checkpoint('qwen2', { config: { num_hidden_layers: 1e9 } });
    assertRefused(
      convertCli(ckpt, '--out', path.join(base, 'never')),
      /config\.json: field "num_hidden_layers" is 1000000000, more than the 1024 the converter reads/,
    );
  });

  it('every dimension of every family has its limit, named by its own field', () => {
    const over = (limit: keyof typeof CONFIG_LIMITS) => CONFIG_LIMITS[limit] + 1;
    const qwen = JSON.parse(fs.readFileSync(path.join(checkpoint('qwen2'), 'config.json'), 'utf8'));
    const llada = JSON.parse(fs.readFileSync(path.join(checkpoint('llada'), 'config.json'), 'utf8'));
    const cases: [Record<string, unknown>, string, number][] = [
      [qwen, 'hidden_size', over('hidden')],
      [qwen, 'intermediate_size', over('intermediate')],
      [qwen, 'vocab_size', over('vocab')],
      [qwen, 'num_attention_heads', over('heads')],
      [qwen, 'num_key_value_heads', over('heads')],
      [qwen, 'head_dim', over('headDim')],
      [qwen, 'max_position_embeddings', over('maxPositions')],
      [llada, 'n_layers', over('layers')],
      [llada, 'd_model', over('hidden')],
      [llada, 'mlp_hidden_size', over('intermediate')],
      [llada, 'embedding_size', over('vocab')],
      [llada, 'max_sequence_length', over('maxPositions')],
    ];
    for (const [config, field, value] of cases) {
      const t0 = Date.now();
      assert.throws(
        () => readFamily({ ...config, [field]: value }, 'config.json'),
        (e: Error) => {
          assert.match(e.message, new RegExp(`^config\\.json: field "${field}" is ${value}, more than the ${value - 1} the converter reads`));
          return true;
        },
        field,
      );
      assert.ok(Date.now() - t0 < 1000, field);
    }
  });

  it('rope_theta of Infinity (1e999 in JSON), NaN or ≤ 0 is refused naming the field', async () => {
    for (const family of ['qwen2', 'llama', 'llada', 'unmask'] as const) {
      const ckpt = checkpoint(family);
      const file = path.join(ckpt, 'config.json');
      const config = JSON.parse(fs.readFileSync(file, 'utf8'));
      delete config.rope_parameters;
      config.rope_theta = 12345;
      fs.writeFileSync(file, JSON.stringify(config).replace('12345', '1e999')); // JSON.stringify would write null
      await assert.rejects(openCheckpoint(ckpt), /config\.json: field "rope_theta" is Infinity, expected a finite positive number/, family);
    }
    const ckpt = checkpoint('qwen2');
    const file = path.join(ckpt, 'config.json');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('"rope_theta": 10000', '"rope_theta": 1e999'));
    await assert.rejects(openCheckpoint(ckpt), /field "rope_parameters\.rope_theta" is Infinity, expected a finite positive number/);
    const qwen = JSON.parse(fs.readFileSync(path.join(checkpoint('qwen2'), 'config.json'), 'utf8'));
    for (const theta of [NaN, 0, -1]) {
      assert.throws(() => readFamily({ ...qwen, rope_parameters: undefined, rope_theta: theta }, 'config.json'), /field "rope_theta" is (NaN|0|-1)/);
    }
  });
});

describe('fault: safetensors headers that name a tensor twice or share bytes', () => {
  const tensors = [
    { name: 'a', dtype: 'F32' as const, shape: [4], values: [1, 2, 3, 4] },
    { name: 'b', dtype: 'F32' as const, shape: [4], values: [5, 6, 7, 8] },
  ];

  it('overlapping data_offsets are refused naming both tensors', async () => {
    const file = path.join(base, `overlap-${n++}.safetensors`);
    writeSafetensors(file, [...tensors, { name: 'c', dtype: 'F32', shape: [2], values: [0, 0] }], {
      editHeader: (h) => {
        (h.b as { data_offsets: number[] }).data_offsets = [8, 24]; // a's last two values and b's first two
      },
    });
    await assert.rejects(
      openSafetensors(file),
      /overlap-\d+\.safetensors: corrupt header: tensors "a" and "b" overlap \(data_offsets \[0, 16\] and \[8, 24\]\)/,
    );
  });

  it('a tensor named twice in the header is refused naming it', async () => {
    const file = path.join(base, `dup-${n++}.safetensors`);
    let text = JSON.stringify({
      a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
      b: { dtype: 'F32', shape: [4], data_offsets: [16, 32] },
    });
    // a second "a" (JSON.parse would silently keep the last one)
    text = text.replace('"b":', '"a":{"dtype":"F32","shape":[4],"data_offsets":[16,32]},"b":');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(text.length));
    fs.writeFileSync(file, Buffer.concat([len, Buffer.from(text), Buffer.alloc(32)]));
    await assert.rejects(openSafetensors(file), /dup-\d+\.safetensors: corrupt header: tensor "a" is named twice/);
  });

  it('a header that is not JSON is refused naming the file, never quoting its bytes', async () => {
    const file = path.join(base, `text-${n++}.safetensors`);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(64n);
    fs.writeFileSync(file, Buffer.concat([len, Buffer.from(SECRET.padEnd(64, ' ')), Buffer.alloc(16)]));
    await assert.rejects(openSafetensors(file), (e: Error) => {
      assert.match(e.message, /text-\d+\.safetensors: corrupt: the header is not valid JSON \(unexpected (content|character at byte \d+)\)/);
      assert.ok(!e.message.includes('SECRET'), e.message);
      return true;
    });
  });
});

describe("fault: the converter never quotes a linked file's bytes", () => {
  for (const file of ['config.json', 'tokenizer.json', 'model.safetensors.index.json']) {
    it(`${file} linked to a text file of the user's: the message names the file, not its text`, async () => {
      const ckpt = checkpoint('qwen2', file.includes('index') ? { shards: 2 } : {});
      replace(ckpt, file, (at) => fs.symlinkSync(path.join(base, 'secret.txt'), at));
      await assert.rejects(openCheckpoint(ckpt), (e: Error) => {
        assert.match(e.message, new RegExp(`${file.replace(/\./g, '\\.')}: not valid JSON \\(unexpected (content|character at byte \\d+)\\)`));
        assert.ok(!e.message.includes('SECRET'), e.message);
        return true;
      });
    });
  }

  it("merges.txt linked to a user's file: the line's number, not its text", async () => {
    const ckpt = checkpoint('qwen2');
    const tok = JSON.parse(fs.readFileSync(path.join(ckpt, 'tokenizer.json'), 'utf8'));
    fs.unlinkSync(path.join(ckpt, 'tokenizer.json'));
    fs.writeFileSync(path.join(ckpt, 'vocab.json'), JSON.stringify(tok.model.vocab));
    fs.writeFileSync(path.join(ckpt, 'tokenizer_config.json'), JSON.stringify({ tokenizer_class: 'Qwen2Tokenizer' }));
    fs.writeFileSync(path.join(base, 'secret-words.txt'), `a b\n${SECRET} is here\n`);
    fs.symlinkSync(path.join(base, 'secret-words.txt'), path.join(ckpt, 'merges.txt'));
    await assert.rejects(openCheckpoint(ckpt), (e: Error) => {
      assert.match(e.message, /merges\.txt: line 2 has 3 space-separated parts, expected two tokens/);
      assert.ok(!e.message.includes('SECRET'), e.message);
      return true;
    });
  });
});

describe('fault: convert --force and leftovers', function () {
  this.timeout(60_000);
  const files = (dir: string) => fs.readdirSync(dir).sort();

  it('--out the checkpoint folder, inside it, or holding it is refused with --force, and the checkpoint is kept', async () => {
    const ckpt = checkpoint('llama');
    const before = files(ckpt);
    await assert.rejects(convert(ckpt, ckpt, { precision: 'fp32', replace: true }), /is the checkpoint folder/);
    await assert.rejects(convert(ckpt, path.join(ckpt, 'model'), { precision: 'fp32', replace: true }), /is inside the checkpoint folder/);
    const holder = path.join(base, `holder-${n++}`);
    const inner = path.join(holder, 'ckpt');
    writeCheckpoint(inner, 'llama');
    fs.writeFileSync(path.join(holder, 'unmask.json'), '{}'); // even a folder that looks like a model folder
    await assert.rejects(convert(inner, holder, { precision: 'fp32', replace: true }), /holds the checkpoint folder/);
    // through a link to the checkpoint, too
    const link = path.join(base, `link-${n++}`);
    fs.symlinkSync(ckpt, link);
    await assert.rejects(convert(ckpt, link, { precision: 'fp32', replace: true }), /is the checkpoint folder/);
    assert.deepEqual(files(ckpt), before);
    assert.ok(files(inner).includes('model.safetensors'));
    const r = convertCli(ckpt, '--out', ckpt, '--force');
    assertRefused(r, /is the checkpoint folder/);
    assert.deepEqual(files(ckpt), before);
  });

  it("--force replaces only a folder Unmask wrote: a folder of the user's or a file is left alone", async () => {
    const ckpt = checkpoint('llama');
    const mine = path.join(base, `mine-${n++}`);
    fs.mkdirSync(mine);
    fs.writeFileSync(path.join(mine, 'notes.txt'), 'mine');
    await assert.rejects(convert(ckpt, mine, { precision: 'fp32', replace: true }), /is not a model folder \(it has no unmask\.json\)/);
    assert.equal(fs.readFileSync(path.join(mine, 'notes.txt'), 'utf8'), 'mine');
    const file = path.join(base, `file-${n++}.txt`);
    fs.writeFileSync(file, 'mine');
    await assert.rejects(convert(ckpt, file, { precision: 'fp32', replace: true }), /is not a model folder/);
    assert.equal(fs.readFileSync(file, 'utf8'), 'mine');
    // a model folder is replaced
    const model = path.join(base, `model-${n++}`);
    await convert(ckpt, model, { precision: 'fp32' });
    await convert(ckpt, model, { precision: 'fp32', replace: true });
    assert.ok(files(model).includes('unmask.json'));
    assert.deepEqual(
      files(base).filter((f) => f.includes('.partial-') || f.includes('.old-')),
      [],
    );
  });

  it("a killed conversion's partial folder is removed by the next one, which says so; a running one's is kept", async () => {
    const parent = path.join(base, `models-${n++}`);
    fs.mkdirSync(parent);
    const dead = spawnSync('true').pid!; // a process that has exited
    const stale = path.join(parent, `.m.partial-${dead}-AbC123`);
    fs.mkdirSync(stale);
    fs.writeFileSync(path.join(stale, 'model.onnx.data'), Buffer.alloc(1 << 20));
    const running = path.join(parent, `.m.partial-${process.ppid}-XyZ789`); // a live process's
    fs.mkdirSync(running);
    const unknown = path.join(parent, `.m.partial-${dead}-QqQ456`); // holds a file no conversion writes
    fs.mkdirSync(unknown);
    fs.writeFileSync(path.join(unknown, 'thesis.tex'), 'mine');
    const notes: string[] = [];
    await convert(checkpoint('llama'), path.join(parent, 'm'), { precision: 'fp32', onNote: (l) => notes.push(l) });
    assert.equal(fs.existsSync(stale), false, 'the stale partial folder is still there');
    assert.ok(fs.existsSync(running) && fs.existsSync(path.join(unknown, 'thesis.tex')));
    assert.equal(notes.length, 1, notes.join('\n'));
    assert.match(
      notes[0],
      new RegExp(`removed .*\\.m\\.partial-${dead}-AbC123 \\(1\\.0 MiB\\), left by a conversion that stopped \\(process ${dead} is gone\\)`),
    );
  });
});

describe('fault: npm run complete --file and --threads', function () {
  this.timeout(60_000);
  const cli = (args: string[]) => {
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src', 'cli', 'complete.ts'), '--line', '1', '--col', '1', ...args], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    return { status: r.status, stderr: r.stderr, ms: Date.now() - t0 };
  };

  it('--file /dev/zero, a FIFO or a file over 16 MiB is refused in seconds naming it and the limit', () => {
    assertRefused(cli(['--file', '/dev/zero']), /\/dev\/zero: is not a regular file \(a device or socket\)/);
    const pipe = path.join(base, `pipe-${n++}.py`);
    fifo(pipe);
    assertRefused(cli(['--file', pipe]), /pipe-\d+\.py: is not a regular file \(a FIFO\)/);
    const big = path.join(base, `big-${n++}.py`);
    fs.writeFileSync(big, '');
    fs.truncateSync(big, 17 << 20);
    assertRefused(cli(['--file', big]), /big-\d+\.py: is 17825792 bytes, more than the 16777216 bytes \(16 MiB\) a source file may have here/);
  });

  it('--threads above the cores is clamped in process too, with the same note', async function () {
    const cores = os.availableParallelism();
    if (cores >= 64) this.skip();
    const notes: string[] = [];
    const trace = await completeFile({
      file: path.join(ROOT, 'examples', 'fibonacci.py'),
      line: 9,
      col: 20,
      threads: 64,
      maxForwards: 2,
      log: (l) => notes.push(l),
    } as Parameters<typeof completeFile>[0]);
    assert.deepEqual(notes, [`--threads is 64, more than this machine's ${cores} cores: using ${cores}`]);
    assert.ok(trace.stats.forwards <= 2);
  });
});
