// Decoding trajectories for the learned unmasking filter (Learn2PD): decodes infill samples of the
// TRAINING split (training/filter_samples.py; never bench/tasks) through the engine with `sequential`, and saves,
// for every forward and every still-masked slot, the signals of src/engine/signals.ts and whether that slot's
// current top-1 is the token it ends up with. The engine is the reference decoder: Python only reads the result.
//   npx tsx research/trajectories.ts [--tasks DIR] [--out DIR] [--limit N] [--model DIR] [--threads N] [--policy P]
// Writes OUT/rows.f32 (float32, row-major: the features, then final, keep, sample, step) and OUT/header.json.
//   final: the slot's current top-1 equals its final token.
//   keep:  the slot lies within what shaping keeps of the final completion (a slot after it cannot change the text).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readTasks } from '../src/bench/tasks';
import { buildRequest, decode, type Candidate, type PolicySpec } from '../src/engine';
import { FEATURE_COUNT, FEATURE_NAMES } from '../src/engine/signals';
import { loadModel } from '../src/model';
import { researchArgs, ROOT, run } from './args';

const EXTRA = ['final', 'keep', 'sample', 'step'] as const;

async function main(): Promise<void> {
  const args = researchArgs({
    usage: 'Decoding trajectories of training-split infill samples, for the learned unmasking filter.\n' + 'Writes OUT/rows.f32 and OUT/header.json.',
    defaults: { tasks: 'training/.work/filter/tasks', out: 'training/.work/filter/traj', threads: 2 },
    options: { policy: { help: 'the policy that decodes', default: 'sequential' } },
  });
  const out = args.out!;
  if (/bench[/\\]tasks/.test(args.tasks)) throw new Error('trajectories come from the training split, never from bench/tasks');
  const files = readTasks(args.tasks, args.limit);
  const model = await loadModel(args.model, { executionProvider: 'cpu', threads: args.threads });
  const policy = { name: args.own.policy } as PolicySpec;
  fs.mkdirSync(out, { recursive: true });
  const width = FEATURE_COUNT + EXTRA.length;
  const chunks: Float32Array[] = [];
  const samples: { file: string; taskId: string; forwards: number; slots: number; text: string }[] = [];
  const t0 = performance.now();
  let rows = 0;
  for (const file of files) {
    for (const task of file.tasks) {
      const steps: { candidates: Candidate[]; features: Float32Array }[] = [];
      const request = buildRequest({ before: task.prompt, after: task.suffix }, { policy, endOfTextPrediction: true }, file.singleLine);
      const trace = await decode(model, request, {
        onSignals: (_, candidates, features) => steps.push({ candidates: candidates.map((c) => ({ ...c })), features: features.slice() }),
      });
      const final = trace.slotTokens;
      // the slots up to the last one whose text shaping kept (the engine records them in the trace)
      const keepUpTo = Math.max(-1, ...trace.keptSlots) + 1;
      steps.forEach(({ candidates, features }, step) => {
        const out = new Float32Array(candidates.length * width);
        candidates.forEach((c, j) => {
          out.set(features.subarray(j * FEATURE_COUNT, (j + 1) * FEATURE_COUNT), j * width);
          out[j * width + FEATURE_COUNT] = c.token === final[c.slot] ? 1 : 0;
          out[j * width + FEATURE_COUNT + 1] = c.slot < keepUpTo ? 1 : 0;
          out[j * width + FEATURE_COUNT + 2] = samples.length;
          out[j * width + FEATURE_COUNT + 3] = step;
        });
        chunks.push(out);
        rows += candidates.length;
      });
      samples.push({ file: file.name, taskId: task.task_id, forwards: trace.stats.forwards, slots: trace.slots, text: trace.result.text });
      if (samples.length % 50 === 0) console.error(`${samples.length} samples, ${rows} rows, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    }
  }
  const fd = fs.openSync(path.join(out, 'rows.f32'), 'w');
  for (const c of chunks) fs.writeSync(fd, Buffer.from(c.buffer, c.byteOffset, c.byteLength));
  fs.closeSync(fd);
  fs.writeFileSync(
    path.join(out, 'header.json'),
    JSON.stringify(
      {
        model: model.info.name,
        policy: args.own.policy,
        tasks: path.relative(ROOT, args.tasks),
        columns: [...FEATURE_NAMES, ...EXTRA],
        features: FEATURE_NAMES,
        rows,
        samples,
      },
      null,
      1,
    ) + '\n',
  );
  console.log(`${samples.length} samples, ${rows} rows (${width} columns) in ${((performance.now() - t0) / 1000).toFixed(0)} s → ${out}`);
  await model.dispose();
}

run(main);
