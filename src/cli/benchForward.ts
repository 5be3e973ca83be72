// npm run bench:forward -- [--model DIR] [--fp32 FILE] [--runs 30] [--load N] [--out FILE]
// The cost of one forward pass of the model through onnxruntime-node (the OnnxDenoiser the
// extension uses) at 128, 256, 512 and the model's maximum length, on 1 and 2 threads, for the
// shipped graph and an fp32 graph where one exists; and the same graph in Python onnxruntime,
// so the Node binding's overhead is visible. --load N keeps N other processes spinning meanwhile: the busy
// machine on which the default thread count is chosen (docs/benchmarks.md, "Threads").
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { percentile } from '../bench/metrics';
import { defaultModelDir, OnnxDenoiser, openGraph, readModelFolder } from '../model';
import { runMain } from './runMain';

const WANTED = 24;

interface Row {
  graph: string;
  threads: number;
  seq: number;
  nodeMedianMs: number;
  nodeP90Ms: number;
  pythonMedianMs?: number;
  pythonP90Ms?: number;
}

async function timeNode(file: string, threads: number, seq: number, topK: number, runs: number): Promise<number[]> {
  const denoiser = new OnnxDenoiser((await openGraph(file, 'cpu', threads, topK)).graph);
  const canvas = Array.from({ length: seq }, (_, i) => 4 + ((i * 7919) % 8000));
  const n = Math.min(WANTED, seq);
  const positions = Array.from({ length: n }, (_, i) => Math.floor(seq / 2) - Math.floor(n / 2) + i);
  for (let i = 0; i < 5; i++) await denoiser.forward(canvas, positions);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await denoiser.forward(canvas, positions);
    times.push(performance.now() - t);
  }
  await denoiser.dispose();
  return times;
}

function timePython(files: string[], lengths: number[], runs: number): Record<string, { medianMs: number; p90Ms: number }> | string {
  const script = path.resolve(__dirname, '..', '..', 'training', 'bench_forward.py');
  const args = [script, ...files.flatMap((f) => ['--model', f]), '--lengths', lengths.join(','), '--threads', '1,2', '--runs', String(runs)];
  const r = spawnSync(process.env.PYTHON ?? 'python3', args, { encoding: 'utf8' });
  if (r.status !== 0) return `skipped (Python onnxruntime not available: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()})`;
  return JSON.parse(r.stdout);
}

const USAGE = `usage: npm run bench:forward -- [--model DIR] [--fp32 FILE] [--runs N] [--load N] [--out FILE]
Times one forward pass through onnxruntime-node (and Python onnxruntime where installed) on 1 and 2 threads.
  --model DIR   model folder (default: the bundled model)
  --fp32 FILE   an fp32 graph to time beside it (default: training/.work/model.fp32.onnx when present)
  --runs N      timed runs per row, at least 30 (default 30)
  --load N      keep N busy-looping processes running meanwhile: a busy machine (default 0)
  --out FILE    also write the rows as JSON`;

export async function main(argv = process.argv.slice(2)): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      fp32: { type: 'string' },
      runs: { type: 'string', default: '30' },
      out: { type: 'string' },
      load: { type: 'string', default: '0' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const load = Number(values.load);
  if (!(Number.isInteger(load) && load >= 0 && load <= 64)) throw new Error(`--load must be an integer from 0 to 64, got "${values.load}"`);
  const spinners = Array.from({ length: load }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  try {
    return await measure(values);
  } finally {
    for (const p of spinners) p.kill('SIGKILL');
  }
}

async function measure(values: { model?: string; fp32?: string; runs?: string; out?: string; load?: string }): Promise<number> {
  const runs = Number(values.runs);
  if (!(Number.isInteger(runs) && runs >= 30)) throw new Error(`--runs must be an integer of at least 30, got "${values.runs}"`);
  const dir = values.model ?? defaultModelDir();
  const { manifest, modelFile } = readModelFolder(dir);
  const graphs: [string, string][] = [[`shipped (${(manifest as { precision?: string }).precision ?? 'as exported'})`, modelFile]];
  const fp32 = values.fp32 ?? path.resolve(__dirname, '..', '..', 'training', '.work', 'model.fp32.onnx');
  if (fs.existsSync(fp32)) graphs.push(['fp32', fp32]);
  else
    console.error(
      `no fp32 graph at ${fp32} (npm run convert -- CHECKPOINT --out DIR --precision fp32 writes one: pass --fp32 DIR/model.onnx); measuring the shipped graph only`,
    );
  const lengths = [...new Set([128, 256, 512, manifest.maxSequence])].filter((n) => n <= manifest.maxSequence);

  const python = timePython(
    graphs.map(([, f]) => f),
    lengths,
    runs,
  );
  const rows: Row[] = [];
  for (const [graph, file] of graphs) {
    for (const threads of [1, 2]) {
      for (const seq of lengths) {
        const times = await timeNode(file, threads, seq, manifest.topK, runs);
        const py = typeof python === 'string' ? undefined : python[`${file}|${threads}|${seq}`];
        rows.push({
          graph,
          threads,
          seq,
          nodeMedianMs: +percentile(times, 50).toFixed(2),
          nodeP90Ms: +percentile(times, 90).toFixed(2),
          ...(py ? { pythonMedianMs: py.medianMs, pythonP90Ms: py.p90Ms } : {}),
        });
        process.stderr.write(`measured ${graph}, ${threads} thread(s), ${seq} tokens\n`);
      }
    }
  }
  console.log(`${manifest.name}: one forward, ${WANTED} wanted positions, median and p90 of ${runs} runs after 5 warm-up runs`);
  console.log(`CPU: ${os.cpus()[0]?.model} (${os.cpus().length} cores), ${values.load} busy process(es) beside it`);
  console.log('| graph | threads | tokens | node median ms | node p90 ms | python median ms | python p90 ms |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    console.log(`| ${r.graph} | ${r.threads} | ${r.seq} | ${r.nodeMedianMs} | ${r.nodeP90Ms} | ${r.pythonMedianMs ?? '–'} | ${r.pythonP90Ms ?? '–'} |`);
  }
  if (typeof python === 'string') console.log(`Python: ${python}`);
  if (values.out)
    fs.writeFileSync(values.out, JSON.stringify({ model: manifest.name, cpu: os.cpus()[0]?.model, load: Number(values.load), runs, rows }, null, 1) + '\n');
  return 0;
}

if (require.main === module) runMain('bench:forward', () => main());
