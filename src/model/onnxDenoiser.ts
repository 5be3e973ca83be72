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

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e)
    .split('\n')[0]
    .slice(0, 300);
}
