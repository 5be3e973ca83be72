// Measures the converter's graph (docs/benchmarks.md, "One graph"): converting a checkpoint with its peak memory taken
// by /usr/bin/time -v, then a folder's load time, resident memory, full forwards and cached steps; and the CPU
// kernels the int8/int4 layouts were chosen from.
//   npx tsx scripts/bench-graph.ts convert CHECKPOINT_DIR OUT_DIR [--precision int8]
//   npx tsx scripts/bench-graph.ts measure OUT_DIR [--threads 2] [--lengths 256,512,2048] [--window 32]
//   npx tsx scripts/bench-graph.ts kernels [--threads 2] [--rows 32,256]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { ort } from '../src/model/ort';
import { openCheckpoint } from '../src/convert/checkpoint';
import { buildGraph } from '../src/convert/graph';
import { DType, MS_DOMAIN, OnnxWriter } from '../src/convert/onnx/writer';
import { quantizeBlocks } from '../src/convert/quantize';
import { GRAPH } from '../src/contract/graph';
import type { Precision } from '../src/contract/precision';
import { kvRows, kvShapeOf } from '../src/model/modelGraph';

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

async function convert(ckptDir: string, outDir: string, precision: Precision): Promise<void> {
  const t0 = performance.now();
  const ckpt = await openCheckpoint(ckptDir);
  fs.mkdirSync(outDir, { recursive: true });
  const graphFile = path.resolve(outDir, 'model.onnx');
  const { bytes } = await buildGraph(ckpt.spec, ckpt.tensors, {
    precision,
    graphFile,
    onProgress: (done, total) => process.stderr.write(`\r${done}/${total} rss ${mib(process.memoryUsage().rss)}   `),
  });
  process.stderr.write('\n');
  console.log(JSON.stringify({ precision, seconds: +((performance.now() - t0) / 1000).toFixed(1), bytes, folder: mib(bytes) }));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Median wall time of a run, and its median CPU time over all threads (less disturbed by other processes). */
async function time(reps: number, run: () => Promise<unknown>): Promise<[number, number]> {
  await run();
  const ms: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    const c = process.cpuUsage();
    await run();
    ms.push(performance.now() - t);
    const used = process.cpuUsage(c);
    cpu.push((used.user + used.system) / 1000);
  }
  return [+median(ms).toFixed(1), +median(cpu).toFixed(1)];
}

async function measure(dir: string, threads: number, lengths: number[], window: number): Promise<void> {
  const file = path.join(dir, 'model.onnx');
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  // no busy-waiting between parallel sections, so that CPU time counts work only
  const session = await ort.InferenceSession.create(file, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });
  const loadMs = performance.now() - t0;
  const rss = process.memoryUsage().rss - rss0;
  const int64 = (values: number[], dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), dims);
  const I = GRAPH.inputs;
  const result: Record<string, unknown> = {
    folder: mib(fs.statSync(file).size + fs.statSync(GRAPH.weightsFile(file)).size),
    loadSeconds: +(loadMs / 1000).toFixed(1),
    rssAfterLoad: mib(rss),
    threads,
  };
  const vocab = (JSON.parse(fs.readFileSync(path.join(dir, 'unmask.json'), 'utf8')) as { vocabSize: number }).vocabSize;
  for (const n of lengths) {
    const ids = Array.from({ length: n }, (_, i) => 4 + ((i * 7919) % Math.min(30000, vocab - 4)));
    const from = Math.floor(n / 2) - window / 2;
    const windowRows = Array.from({ length: window }, (_, i) => from + i);
    const empty = emptyPast(session);
    const full = () =>
      session.run({ [I.ids]: int64(ids, [1, n]), [I.start]: int64([0], [1]), [I.pastKv]: empty, [I.positions]: int64(windowRows, [1, window]) });
    const kv = (await full())[GRAPH.outputs.kv];
    [result[`full${n}Ms`], result[`full${n}CpuMs`]] = await time(n >= 2048 ? 2 : 5, full);
    const rest = Array.from({ length: n }, (_, i) => i).filter((i) => i < from || i >= from + window);
    const past = kvRows(kv, rest);
    const step = () =>
      session.run({
        [I.ids]: int64(ids.slice(from, from + window), [1, window]),
        [I.start]: int64([from], [1]),
        [I.pastKv]: past,
        [I.positions]: int64(windowRows, [1, window]),
      });
    [result[`step${n}Ms`], result[`step${n}CpuMs`]] = await time(10, step);
  }
  result.rssAfterRuns = mib(process.memoryUsage().rss - rss0);
  console.log(JSON.stringify(result));
  await session.release();
}

/** An empty past_kv (the full forward) of the shape the graph declares, batch 1. */
function emptyPast(session: ort.InferenceSession): ort.Tensor {
  const { layers, kvHeads, headDim } = kvShapeOf(session);
  return new ort.Tensor('float32', new Float32Array(0), [layers, 2, 1, kvHeads, 0, headDim]);
}

/**
 * One [rows, 896] × [896, 4864] product (the 0.5B model's MLP up projection) per layout: fp32 MatMul, MatMulNBits at 8
 * and 4 bits with accuracy levels 0 (fp32 compute) and 4 (int8 activations), and DynamicQuantizeLinear + MatMulInteger
 * (the old exporter's int8).
 */
async function kernels(threads: number, rowsList: number[]): Promise<void> {
  const K = 896;
  const N = 4864;
  const rand = () => Math.random() - 0.5;
  const weight = Float32Array.from({ length: N * K }, () => rand() * 0.05);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-kernels-'));
  const variants: Record<string, (w: OnnxWriter, x: string) => string> = {
    fp32: (w, x) => {
      const t = new Float32Array(K * N);
      for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) t[k * N + n] = weight[n * K + k];
      return w.node('MatMul', [x, w.weight('w', 'float', [K, N], t)]);
    },
    ...Object.fromEntries(
      ([8, 4] as const).flatMap((bits) =>
        [0, 4].map((level) => [
          `nbits${bits}-acc${level}`,
          (w: OnnxWriter, x: string) => {
            const q = quantizeBlocks(weight, N, K, bits, 32);
            const inputs = [w.weight('b', 'uint8', [N, q.blocks, (32 * bits) / 8], q.data), w.weight('s', 'float', [N * q.blocks], q.scales)];
            if (q.zeroPoints) inputs.push(w.weight('z', 'uint8', [q.zeroPoints.length], q.zeroPoints));
            return w.node('MatMulNBits', [x, ...inputs], { K, N, bits, block_size: 32, accuracy_level: level }, { domain: MS_DOMAIN });
          },
        ]),
      ),
    ),
    'dynamic-int8-matmulinteger': (w, x) => {
      const codes = new Int8Array(K * N);
      const scales = new Float32Array(N);
      for (let n = 0; n < N; n++) {
        let amax = 0;
        for (let k = 0; k < K; k++) amax = Math.max(amax, Math.abs(weight[n * K + k]));
        scales[n] = amax / 127;
        for (let k = 0; k < K; k++) codes[k * N + n] = Math.round(weight[n * K + k] / scales[n]);
      }
      const [xq, xs, xz] = w.nodeN('DynamicQuantizeLinear', [x], {}, { count: 3 });
      const acc = w.node('MatMulInteger', [xq, w.weight('w8', 'int8', [K, N], codes), xz, w.constant('int8', [], [0])]);
      return w.node('Mul', [w.node('Cast', [acc], { to: DType.float }), w.node('Mul', [xs, w.weight('ws', 'float', [N], scales)])]);
    },
  };
  const results: Record<string, Record<string, number>> = {};
  for (const [name, make] of Object.entries(variants)) {
    const file = path.join(dir, `${name}.onnx`);
    const w = new OnnxWriter(file, `${file}.data`);
    const x = w.input('x', 'float', ['rows', K]);
    w.output('y', make(w, x), 'float', ['rows', N]);
    w.finish(name, '');
    const session = await ort.InferenceSession.create(file, { intraOpNumThreads: threads, interOpNumThreads: 1 });
    results[name] = {};
    for (const rows of rowsList) {
      const feed = { x: new ort.Tensor('float32', Float32Array.from({ length: rows * K }, rand), [rows, K]) };
      results[name][`rows${rows}Ms`] = (await time(20, () => session.run(feed)))[0];
    }
    await session.release();
  }
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(JSON.stringify({ threads, shape: `[rows, ${K}] x [${K}, ${N}]`, results }, null, 1));
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      precision: { type: 'string', default: 'int8' },
      threads: { type: 'string', default: '2' },
      lengths: { type: 'string', default: '256,512,2048' },
      window: { type: 'string', default: '32' },
      rows: { type: 'string', default: '32,256' },
    },
  });
  const [command, a, b] = positionals;
  const list = (s: string) => s.split(',').map(Number);
  if (command === 'convert' && a && b) return convert(a, b, values.precision as Precision);
  if (command === 'measure' && a) return measure(a, Number(values.threads), list(values.lengths!), Number(values.window));
  if (command === 'kernels') return kernels(Number(values.threads), list(values.rows!));
  console.error('usage: bench-graph.ts convert CHECKPOINT_DIR OUT_DIR [--precision P] | measure OUT_DIR [--threads 2] | kernels');
  process.exit(2);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
