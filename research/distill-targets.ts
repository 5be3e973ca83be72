// Targets for certainty-forcing distillation (dParallel): decodes infill samples of the TRAINING split
// (training/filter_samples.py; never bench/tasks) through the engine with `sequential` and saves, per sample, what
// research/distill.py needs to rebuild the canvas and the targets. The engine is the reference decoder; the canvas
// is the one the engine itself fed to its first forward (captured by wrapping the denoiser), so no canvas rule is
// duplicated here.
//   npx tsx research/distill-targets.ts [--tasks DIR] [--out FILE] [--model DIR] [--limit N] [--threads N]
// One JSON line per sample: {file, taskId, singleLine, canvas (ids before decoding, slots = mask id), slotStart,
//   slots, final (each slot's final token, pad/eos included; -1 never happens unless decoding ran out of time),
//   order (the step at which each slot was unmasked), keep (slots whose text shaping keeps), forwards, stoppedBy, text}.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readTasks } from '../src/bench/tasks';
import { buildRequest, decode, type Decoder, type Denoiser, type PolicySpec } from '../src/engine';
import { loadModel } from '../src/model';
import { researchArgs, run } from './args';

async function main(): Promise<void> {
  const args = researchArgs({
    usage:
      'Targets for certainty-forcing distillation: sequential decodes of training-split infill samples,\n' +
      'one JSON line per sample (research/distill.py reads them).',
    defaults: { tasks: 'training/.work/distill/tasks', out: 'training/.work/distill/targets.jsonl', threads: 1 },
  });
  const out = args.out!;
  if (/bench[/\\]tasks/.test(args.tasks)) throw new Error('distillation targets come from the training split, never from bench/tasks');
  const files = readTasks(args.tasks, args.limit);
  const loaded = await loadModel(args.model, { executionProvider: 'cpu', threads: args.threads });
  const policy = { name: 'sequential' } as PolicySpec;
  const { model, tokenizer } = loaded;

  // the canvas as the engine fed it to the first forward of a decode (the caller reuses its array: copy it)
  let first: { ids: number[]; positions: number[] } | undefined;
  const inner: Denoiser = loaded.denoiser;
  const decoder: Decoder = {
    model,
    tokenizer,
    ...(loaded.filter ? { filter: loaded.filter } : {}),
    denoiser: {
      forward: (canvas, positions) => {
        if (!first) first = { ids: [...canvas], positions: [...positions] };
        return inner.forward(canvas, positions);
      },
      ...(inner.beginBlock ? { beginBlock: (s: number, e: number) => inner.beginBlock!(s, e) } : {}),
    },
  };

  fs.mkdirSync(path.dirname(out), { recursive: true });
  const fd = fs.openSync(out, 'w');
  const t0 = performance.now();
  let n = 0;
  let forwards = 0;
  for (const file of files) {
    for (const task of file.tasks) {
      first = undefined;
      const request = buildRequest({ before: task.prompt, after: task.suffix }, { policy, endOfTextPrediction: true }, file.singleLine);
      const trace = await decode(decoder, request);
      const { ids, positions } = first!;
      const slotStart = positions[0] + model.logitsShift;
      // sanity: the first forward asks for every slot, and those hold the mask id
      if (
        positions.length !== trace.slots ||
        positions.some((p, i) => p + model.logitsShift !== slotStart + i) ||
        ids.slice(slotStart, slotStart + trace.slots).some((t) => t !== model.tokens.mask)
      ) {
        throw new Error(`${task.task_id}: unexpected first forward`);
      }
      const order = new Array<number>(trace.slots).fill(-1);
      trace.steps.forEach((s, k) => s.unmasked.forEach((u) => (order[u.slot] = k)));
      const final = trace.slotTokens;
      const keep = Math.max(-1, ...trace.keptSlots) + 1; // slots up to the last one whose text shaping kept
      fs.writeSync(
        fd,
        JSON.stringify({
          file: file.name,
          taskId: task.task_id,
          singleLine: file.singleLine,
          canvas: ids,
          slotStart,
          slots: trace.slots,
          final,
          order,
          keep,
          forwards: trace.stats.forwards,
          stoppedBy: trace.result.stoppedBy,
          text: trace.result.text,
        }) + '\n',
      );
      n++;
      forwards += trace.stats.forwards;
      if (n % 100 === 0) console.error(`${n} samples, ${forwards} forwards, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    }
  }
  fs.closeSync(fd);
  console.log(`${n} samples, ${forwards} forwards in ${((performance.now() - t0) / 1000).toFixed(0)} s → ${out}`);
  await loaded.dispose();
}

run(main);
