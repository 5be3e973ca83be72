// The Denoiser of the engine over one onnxruntime-node InferenceSession (graph contract: docs/model-contract.md).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { resolveThreads } from '../engine/bounds';
import type { Denoiser, Prediction } from '../engine/types';
import type { ExecutionProviderSetting } from '../protocol';

export const GRAPH_INPUTS = ['input_ids', 'positions'] as const;
export const GRAPH_OUTPUTS = ['top_ids', 'top_probs', 'entropy'] as const;

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
    case 'win32': return ['dml'];
    case 'darwin': return ['coreml'];
    case 'linux': return cudaInstalled() ? ['cuda'] : [];
    default: return [];
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
/**
 * @param spin let the session's threads busy-wait between runs (onnxruntime's default: lower latency for one session
 *   run back to back); false for the dual cache's two sessions, which take turns: one's spinning pool took the cores
 *   from the other, and a cached decode ran slower than an uncached one (docs/benchmarks.md, "The bundled model with the cache")
 */
export async function createSession(modelFile: string, setting: ExecutionProviderSetting, threads: number, spin = true): Promise<SessionChoice> {
  const n = threadsFor(threads);
  const options = (ep: string): ort.InferenceSession.SessionOptions => ({
    executionProviders: [ep], intraOpNumThreads: n, interOpNumThreads: 1, graphOptimizationLevel: 'all',
    executionMode: 'sequential', logSeverityLevel: 3,
    ...(spin ? {} : { extra: { session: { intra_op: { allow_spinning: '0' } } } }),
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
  return { session, executionProvider: 'cpu', threads: n,
    ...(failures.length ? { fallbackReason: `fell back to cpu (${failures.join('; ')})` } : {}) };
}

export class OnnxDenoiser implements Denoiser {
  private ids = new BigInt64Array(0);
  private idsTensor?: ort.Tensor;
  private readonly lastCanvas: number[] = [];
  private positions = new BigInt64Array(0);
  private busy = false;

  constructor(readonly session: ort.InferenceSession, readonly topK: number) {}

  async forward(canvas: readonly number[], positions: readonly number[]): Promise<Prediction[]> {
    if (this.busy) throw new Error('OnnxDenoiser: one forward at a time');
    this.busy = true;
    try {
      const feeds = { input_ids: this.canvasTensor(canvas), positions: this.positionsTensor(positions) };
      // only the contract's outputs: a context graph's `kv` (the dual cache's) is not wanted here
      const out = await this.session.run(feeds, [...GRAPH_OUTPUTS]);
      return this.predictions(out, positions.length);
    } finally {
      this.busy = false;
    }
  }

  async dispose(): Promise<void> {
    await this.session.release();
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

  private positionsTensor(positions: readonly number[]): ort.Tensor {
    if (this.positions.length < positions.length) this.positions = new BigInt64Array(Math.max(positions.length, 64));
    for (let i = 0; i < positions.length; i++) this.positions[i] = BigInt(positions[i]);
    return new ort.Tensor('int64', this.positions.subarray(0, positions.length), [1, positions.length]);
  }

  private predictions(out: ort.InferenceSession.OnnxValueMapType, n: number): Prediction[] {
    const ids = out.top_ids?.data as BigInt64Array | undefined;
    const probs = out.top_probs?.data as Float32Array | undefined;
    const entropy = out.entropy?.data as Float32Array | undefined;
    if (!ids || !probs || !entropy || ids.length !== n * this.topK || probs.length !== n * this.topK || entropy.length !== n) {
      throw new Error(`the graph's outputs do not have the contract's shapes ([1, ${n}, ${this.topK}] and [1, ${n}])`);
    }
    const k = this.topK;
    const result: Prediction[] = [];
    for (let j = 0; j < n; j++) {
      const rowIds = new Int32Array(k);
      for (let i = 0; i < k; i++) rowIds[i] = Number(ids[j * k + i]);
      result.push({ ids: rowIds, probs: probs.subarray(j * k, (j + 1) * k), entropy: entropy[j] });
    }
    return result;
  }
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0].slice(0, 300);
}
