// Hostile model folders and arguments. Each is refused through the real server
// within 10 s with its file or field named, and the same server (no native abort, no hang) serves on.
// Before the fix: the FIFOs hung the load, /dev/zero aborted the server (std::bad_alloc), maxSequence 1,000,000
// ran out of memory, a million threads never loaded, blockSize 0.5 looped forever, "model..onnx" was refused,
// a symlink loop was "missing" and the error quoted the linked file's first bytes.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkModelFolderAsync } from '../../../src/modelFolder';
import { ErrorCodes, Requests, type CompleteParams } from '../../../src/protocol';
import { cliAtFibonacci, editManifest, hostileCopy, LOAD, MODEL_DIR, newClient, outcome, rawServer, request, slow } from './helpers';

const fifo = (file: string) => execFileSync('mkfifo', [file]);

/** Same size, same special tokens, but two ordinary tokens swapped: every id still decodes, to the wrong text. */
function shuffleVocabulary(dir: string): void {
  const file = path.join(dir, 'tokenizer.json');
  const tok = JSON.parse(fs.readFileSync(file, 'utf8'));
  const vocab = tok.model.vocab as Record<string, number>;
  const [a, b] = Object.keys(vocab)
    .filter((t) => vocab[t] >= 100)
    .slice(0, 2);
  [vocab[a], vocab[b]] = [vocab[b], vocab[a]];
  fs.unlinkSync(file); // a link to the bundled tokenizer in a hostile copy: never write through it
  fs.writeFileSync(file, JSON.stringify(tok));
}

describe('fault: hostile model folders through the real server', function () {
  this.timeout(120_000);
  const client = newClient({ loadTimeoutMs: 10_000 });
  let pid: number;
  before(async () => {
    await client.load(LOAD);
    pid = client.pid!;
  });
  after(() => client.dispose());

  const cases: [string, (dir: string) => void, RegExp][] = [
    [
      'model.onnx is a FIFO',
      (d) => {
        fs.unlinkSync(path.join(d, 'model.onnx'));
        fifo(path.join(d, 'model.onnx'));
      },
      /model\.onnx: is not a regular file \(a FIFO\)/,
    ],
    [
      'unmask.json is a FIFO',
      (d) => {
        fs.unlinkSync(path.join(d, 'unmask.json'));
        fifo(path.join(d, 'unmask.json'));
      },
      /unmask\.json: is not a regular file \(a FIFO\)/,
    ],
    [
      'tokenizer.json is a link to /dev/zero (endless)',
      (d) => {
        fs.unlinkSync(path.join(d, 'tokenizer.json'));
        fs.symlinkSync('/dev/zero', path.join(d, 'tokenizer.json'));
      },
      /tokenizer\.json: is not a regular file \(a device or socket\)/,
    ],
    [
      'tokenizer.json is a 200 MB file',
      (d) => {
        fs.unlinkSync(path.join(d, 'tokenizer.json'));
        fs.writeFileSync(path.join(d, 'tokenizer.json'), '');
        fs.truncateSync(path.join(d, 'tokenizer.json'), 200e6);
      },
      /tokenizer\.json: is 200000000 bytes, more than/,
    ],
    [
      'model.onnx is a symlink loop',
      (d) => {
        fs.unlinkSync(path.join(d, 'model.onnx'));
        fs.symlinkSync('model.onnx', path.join(d, 'model.onnx'));
      },
      /model\.onnx: is a symlink loop/,
    ],
    ['maxSequence 1,000,000', editManifest((m) => (m.maxSequence = 1_000_000)), /field "maxSequence" is 1000000, expected an integer from 8 to 4096/],
    ['a tokenizer smaller than vocabSize', editManifest((m) => (m.vocabSize = 8193)), /field "vocabSize" is 8193, but tokenizer\.json has 8192 tokens/],
    [
      'a tokenizer of the right size with shuffled ids',
      shuffleVocabulary,
      /tokenizer\.json: its vocabulary is not the model's: its digest is sha256:[0-9a-f]+…, but unmask\.json field "vocabDigest" is sha256:327d/,
    ],
  ];
  for (const [name, edit, message] of cases) {
    it(`${name}: refused naming it`, async () => {
      const folder = hostileCopy(edit);
      try {
        const started = Date.now();
        await assert.rejects(client.load({ ...LOAD, modelDir: folder.dir }), (e: Error) => {
          assert.equal(e.name, 'ModelLoadError');
          assert.match(e.message, message);
          return true;
        });
        assert.ok(Date.now() - started < 10_000, `${Date.now() - started} ms`);
        assert.equal(client.pid, pid, 'the server survived');
        assert.equal((await client.complete(slow(2))).stats.forwards, 2);
      } finally {
        folder.remove();
      }
    });
  }

  it('a tokenizer linked to another file: refused without quoting that file', async () => {
    const secret = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-secret-')), 'secret.txt');
    fs.writeFileSync(secret, 'hunter2-password-line\n');
    const folder = hostileCopy((d) => {
      fs.unlinkSync(path.join(d, 'tokenizer.json'));
      fs.symlinkSync(secret, path.join(d, 'tokenizer.json'));
    });
    try {
      const r = await outcome(client.load({ ...LOAD, modelDir: folder.dir }));
      assert.ok(!r.ok);
      assert.match(r.error.message, /tokenizer\.json: not valid JSON/);
      assert.doesNotMatch(r.error.message, /hunter2|password/);
    } finally {
      folder.remove();
      fs.rmSync(path.dirname(secret), { recursive: true, force: true });
    }
  });

  it('"model..onnx" is a file name, not a path escape', async () => {
    const folder = hostileCopy((d) => {
      fs.renameSync(path.join(d, 'model.onnx'), path.join(d, 'model..onnx'));
      // the loader checks the weights by the graph's name; the graph itself still names model.onnx.data inside
      fs.symlinkSync(path.join(MODEL_DIR, 'model.onnx.data'), path.join(d, 'model..onnx.data'));
      editManifest((m) => (m.files.model = 'model..onnx'))(d);
    });
    try {
      const info = await client.load({ ...LOAD, modelDir: folder.dir });
      assert.equal(info.modelDir, folder.dir);
      await client.load(LOAD);
    } finally {
      folder.remove();
    }
  });

  it("the extension's pre-check answers a FIFO manifest at once, without blocking", async () => {
    const folder = hostileCopy((d) => {
      fs.unlinkSync(path.join(d, 'unmask.json'));
      fifo(path.join(d, 'unmask.json'));
    });
    try {
      const problem = await checkModelFolderAsync(folder.dir, 5000);
      assert.match(problem ?? '', /unmask\.json is not a regular file \(a FIFO\)/);
      assert.equal(await checkModelFolderAsync(MODEL_DIR), undefined);
    } finally {
      folder.remove();
    }
  });
});

describe('fault: out-of-bound numbers are refused naming the field', function () {
  this.timeout(60_000);

  it('threads 1,000,000: the client refuses it before any process starts', async () => {
    const client = newClient();
    try {
      await assert.rejects(client.load({ ...LOAD, threads: 1_000_000 }), /load\.threads is 1000000; expected an integer from 0 to 64/);
      assert.equal(client.pid, undefined);
    } finally {
      client.dispose();
    }
  });

  it('the server refuses threads 1,000,000 and blockSize 0.5 from any client (blockSize 0.5 used to loop forever)', async () => {
    const raw = rawServer();
    try {
      await assert.rejects(
        raw.connection.sendRequest(Requests.load, { ...LOAD, threads: 1_000_000 }),
        (e: { code: number; message: string }) => e.code === ErrorCodes.invalidRequest && /load\.threads is 1000000/.test(e.message),
      );
      await raw.connection.sendRequest(Requests.load, LOAD);
      for (const [over, field] of [
        [{ blockSize: 0.5 }, 'request.blockSize'],
        [{ slots: 1e9 }, 'request.slots'],
        [{ maxForwards: -1 }, 'request.maxForwards'],
      ] as const) {
        await assert.rejects(
          raw.connection.sendRequest(Requests.complete, { id: 1, request: request(over), streamSteps: false } satisfies CompleteParams),
          (e: { code: number; message: string }) => e.code === ErrorCodes.invalidRequest && e.message.startsWith(field),
        );
      }
    } finally {
      raw.dispose();
    }
  });

  it('the CLI refuses --threads 1000000 naming the flag, at once', () => {
    const r = cliAtFibonacci(['--threads', '1000000'], 30_000);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--threads is 1000000; expected an integer from 0 to 64/);
  });
});
