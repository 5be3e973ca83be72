// The onnxruntime-node session of a model's graph (provider choice and fallback), and the engine's Denoiser over it
// without the cache (graph contract: docs/model-contract.md).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ort } from './ort';
import { resolveThreads } from '../engine/bounds';
import type { Denoiser, Prediction } from '../engine/types';
import type { ExecutionProviderSetting } from '../protocol';
import { kvShapeOf, ModelGraph } from './modelGraph';

export interface SessionChoice {
  session: ort.InferenceSession;
  executionProvider: string;
  threads: number;
  fallbackReason?: string;
}

/** The thread count for a setting on this machine (0: the default of engine/bounds.ts). */
export function threadsFor(setting: number): number {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return resolveThreads(setting, cores);
}

/** What `auto` tries before the CPU on this platform. */
function autoProviders(): string[] {
  switch (process.platform) {
    case 'win32':
      return ['dml'];
    case 'darwin':
      return ['coreml'];
    case 'linux':
      return cudaInstalled() ? ['cuda'] : [];
    default:
      return [];
  }
}

/** The CPU build of onnxruntime-node lacks the CUDA provider library unless it was installed on purpose. */
function cudaInstalled(): boolean {
  try {
    const dir = path.dirname(require.resolve('onnxruntime-node/package.json'));
    const bin = path.join(dir, 'bin', 'napi-v6', 'linux', process.arch);
    return fs.existsSync(path.join(bin, 'libonnxruntime_providers_cuda.so'));
  } catch {
    return false;
  }
}

/** Creates the session on the requested provider, falling back to CPU with the reason. */
export async function createSession(modelFile: string, setting: ExecutionProviderSetting, threads: number): Promise<SessionChoice> {
  const n = threadsFor(threads);
  const options = (ep: string): ort.InferenceSession.SessionOptions => ({
    executionProviders: [ep],
    intraOpNumThreads: n,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    logSeverityLevel: 3,
    // no spin-waiting between kernels: with other work on the machine (the editor, a build) spinning threads fight it
    // for the cores; measured on the 0.5B shapes, 2 threads, machine busy: a 32-row step 1,324 → 460 ms, a 256-row
    // forward 5,279 → 3,845 ms (docs/benchmarks.md, "Latency")
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });
  const tries = setting === 'auto' ? autoProviders() : setting === 'cpu' ? [] : [setting];
  const failures: string[] = [];
  for (const ep of tries) {
    try {
      return { session: await ort.InferenceSession.create(modelFile, options(ep)), executionProvider: ep, threads: n };
    } catch (e) {
      failures.push(`${ep}: ${firstLine(e)}`);
    }
  }
  const session = await ort.InferenceSession.create(modelFile, options('cpu'));
  return { session, executionProvider: 'cpu', threads: n, ...(failures.length ? { fallbackReason: `fell back to cpu (${failures.join('; ')})` } : {}) };
}

/** The graph of `modelFile` in a session (see createSession), its past_kv sizes read from the graph itself. */
export async function openGraph(
  modelFile: string,
  setting: ExecutionProviderSetting,
  threads: number,
  topK: number,
): Promise<SessionChoice & { graph: ModelGraph }> {
  const choice = await createSession(modelFile, setting, threads);
  try {
    return { ...choice, graph: new ModelGraph(choice.session, topK, kvShapeOf(choice.session)) };
  } catch (e) {
    await choice.session.release().catch(() => undefined);
    throw e;
  }
}

/** The full forward: the whole canvas from row 0 with no past rows, as the engine's Denoiser. */
export class OnnxDenoiser implements Denoiser {
  private ids = new BigInt64Array(0);
  private idsTensor?: ort.Tensor;
  private readonly lastCanvas: number[] = [];
  private busy = false;

  constructor(readonly graph: ModelGraph) {}

  async forward(canvas: readonly number[], positions: readonly number[]): Promise<Prediction[]> {
    if (this.busy) throw new Error('OnnxDenoiser: one forward at a time');
    this.busy = true;
    try {
      return (await this.graph.run({ ids: this.canvasTensor(canvas), start: 0, positions })).predictions;
    } finally {
      this.busy = false;
    }
  }

  /** The full forward over several canvases at once (batch B; each row's predictions as `forward` answers them). */
  async forwardBatch(canvases: readonly (readonly number[])[], positions: readonly number[]): Promise<Prediction[][]> {
    if (canvases.length === 1) return [await this.forward(canvases[0], positions)];
    if (this.busy) throw new Error('OnnxDenoiser: one forward at a time');
    this.busy = true;
    try {
      const n = canvases[0].length;
      const ids = new BigInt64Array(n * canvases.length);
      canvases.forEach((c, b) => c.forEach((x, i) => (ids[b * n + i] = BigInt(x))));
      const tensor = new ort.Tensor('int64', ids, [canvases.length, n]);
      const { predictions } = await this.graph.run({ ids: tensor, start: 0, positions, copy: true });
      return canvases.map((_, b) => predictions.slice(b * positions.length, (b + 1) * positions.length));
    } finally {
      this.busy = false;
    }
  }

  batchExact(canvas: readonly number[], positions: readonly number[]): Promise<boolean> {
    return batchExact(this.graph, canvas, positions);
  }

  async dispose(): Promise<void> {
    await this.graph.release();
  }

  /** The input tensor is kept between steps; only the slots that changed are written. */
  private canvasTensor(canvas: readonly number[]): ort.Tensor {
    if (canvas.length !== this.ids.length || !this.idsTensor) {
      this.ids = BigInt64Array.from(canvas, (x) => BigInt(x));
      this.lastCanvas.length = 0;
      this.lastCanvas.push(...canvas);
      this.idsTensor = new ort.Tensor('int64', this.ids, [1, canvas.length]);
    } else {
      for (let i = 0; i < canvas.length; i++) {
        if (canvas[i] !== this.lastCanvas[i]) {
          this.ids[i] = BigInt(canvas[i]);
          this.lastCanvas[i] = canvas[i];
        }
      }
    }
    return this.idsTensor;
  }
}

const exactByGraph = new WeakMap<ModelGraph, Promise<boolean>>();

/**
 * Whether the graph's batched rows equal its forwards alone bit for bit (draft-and-verify's precondition), asked once
 * per graph: two canvases (this one, and it with its first wanted position changed) alone and as one batch of two.
 * fp32 graphs pass; graphs that quantize activations per tensor (DynamicQuantizeLinear) quantize the batch as one.
 */
export function batchExact(graph: ModelGraph, canvas: readonly number[], positions: readonly number[]): Promise<boolean> {
  let known = exactByGraph.get(graph);
  if (!known) {
    known = (async () => {
      if (!positions.length) return true;
      const other = [...canvas];
      other[positions[0]] = canvas[positions[0]] === canvas[0] ? canvas[canvas.length - 1] : canvas[0];
      const rows = [canvas, other];
      const tensor = (xs: readonly number[], b: number) =>
        new ort.Tensor(
          'int64',
          BigInt64Array.from(xs, (x) => BigInt(x)),
          [b, canvas.length],
        );
      const alone = [];
      for (const r of rows) alone.push(...(await graph.run({ ids: tensor(r, 1), start: 0, positions, copy: true })).predictions);
      const batched = (await graph.run({ ids: tensor(rows.flat(), 2), start: 0, positions, copy: true })).predictions;
      return alone.every(
        (a, i) =>
          a.entropy === batched[i].entropy &&
          Array.from(a.ids).every((x, j) => x === batched[i].ids[j]) &&
          Array.from(a.probs).every((x, j) => x === batched[i].probs[j]),
      );
    })();
    exactByGraph.set(graph, known);
  }
  return known;
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e)
    .split('\n')[0]
    .slice(0, 300);
}
