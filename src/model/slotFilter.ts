// The learned unmasking filter of a model folder (unmask.json files.filter): a tiny ONNX graph from
// features [N, FEATURE_COUNT] (src/engine/signals.ts) to score [N], run once per decode step by the `learned` policy.
import { ort } from './ort';
import { FEATURE_COUNT } from '../engine/signals';
import type { SlotFilter } from '../engine/types';

const FILTER_INPUT = 'features';
export const FILTER_OUTPUT = 'score';

export class OnnxSlotFilter implements SlotFilter {
  constructor(readonly session: ort.InferenceSession) {}

  /** One thread: the graph is a few thousand multiply-adds, a thread pool would only cost. */
  static async create(file: string): Promise<OnnxSlotFilter> {
    const session = await ort.InferenceSession.create(file, {
      executionProviders: ['cpu'],
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
    });
    return new OnnxSlotFilter(session);
  }

  async score(features: Float32Array, rows: number): Promise<Float32Array> {
    if (rows === 0) return new Float32Array(0);
    const out = await this.session.run({ [FILTER_INPUT]: new ort.Tensor('float32', features.subarray(0, rows * FEATURE_COUNT), [rows, FEATURE_COUNT]) });
    const score = out[FILTER_OUTPUT]?.data as Float32Array | undefined;
    if (!score || score.length !== rows) throw new Error(`the filter graph must answer ${FILTER_OUTPUT} [${rows}] float32`);
    return score;
  }

  dispose(): Promise<void> {
    return this.session.release();
  }
}
