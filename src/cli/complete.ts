// `npm run complete -- --file F --line L --col C [...]` (docs/architecture.md, "The command line"): completes at 1-based line L,
// column C of file F and prints the completion, or the trace with --json. Also a library function.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { ModelClient } from '../client/modelClient';
import { buildRequest, decode, DEFAULT_POLICY, DEFAULT_SLOTS, formatPolicy, policySyntax, type CursorText } from '../engine';
import { parseBenchPolicy, type BenchPolicy } from '../bench/policyArg';
import { checkBound, checkCompleteRequest, clampThreads, SOURCE_FILE_LIMIT, type BoundName } from '../engine/bounds';
import { readBoundedText } from '../model/boundedFile';
import { availableParallelism } from 'node:os';
import { defaultModelDir, loadModel } from '../model';
import type { CompleteRequest, ExecutionProviderSetting, PolicySpec, Trace } from '../protocol';
import { DEFAULT_GATE } from '../engine/gate';
import { renderStandaloneHtml, visualizerBundleDir } from '../visualizer/standalone';
import { runMain } from './runMain';
import { spawnSync } from 'node:child_process';
import { withModelFolderNextStep } from '../hub/nextStep';
import { completeRemote } from '../remote/complete';

const ROOT = path.resolve(__dirname, '..', '..');

/** Splits `text` at 1-based `line`, `col` (col may be one past the line's end). */
export function cursorContext(text: string, line: number, col: number, file = 'the file'): CursorText {
  const lines = text.split('\n');
  if (!Number.isInteger(line) || line < 1 || line > lines.length) {
    throw new Error(`line ${line} is out of range: ${file} has ${lines.length} lines`);
  }
  const content = lines[line - 1].replace(/\r$/, '');
  if (!Number.isInteger(col) || col < 1 || col > content.length + 1) {
    throw new Error(`column ${col} is out of range: line ${line} of ${file} has ${content.length} characters (columns 1…${content.length + 1})`);
  }
  const offset = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0) + col - 1;
  return { before: text.slice(0, offset), after: text.slice(offset) };
}

export interface CompleteFileOptions {
  file: string;
  line: number;
  col: number;
  policy?: PolicySpec;
  slots?: number;
  eotp?: boolean;
  blockSize?: number;
  /** Draft-and-verify (engine/draft.ts): canvases per batched forward, or 'auto'; absent or 1: off. */
  draft?: number | 'auto';
  maxForwards?: number;
  /** Stop decoding after this many milliseconds, as the editor does (unmask.timeBudgetMs); 'auto': from the model's cost; 0: no limit. */
  timeBudgetMs?: number | 'auto';
  modelDir?: string;
  threads?: number;
  executionProvider?: ExecutionProviderSetting;
  /** Decode in a forked model server (as the editor does) instead of in this process. */
  server?: boolean;
  /** Complete through a team server (serve/README.md; token: UNMASK_SERVER_TOKEN) instead of a local model folder. */
  serverUrl?: string;
  /** Notes for the user (a --threads above the cores); default: a line on stderr. */
  log?: (line: string) => void;
}

/** Completes at a position of a file with a model folder; returns the trace (result.text is the completion). */
export async function completeFile(o: CompleteFileOptions): Promise<Trace> {
  // a regular file within SOURCE_FILE_LIMIT, read no further (/dev/zero took 4 GB, a FIFO hung)
  const text = readBoundedText(o.file, {
    limit: SOURCE_FILE_LIMIT,
    limitOf: 'a source file',
    error: (file, message) => new Error(`${file}: ${message === 'missing' ? 'no such file' : message}`),
  });
  const at = cursorContext(text, o.line, o.col, o.file);
  const request: CompleteRequest = {
    ...buildRequest(at, {
      policy: o.policy ?? DEFAULT_POLICY,
      endOfTextPrediction: o.eotp ?? true,
      singleLineSlots: o.slots,
      multiLineSlots: o.slots,
      timeBudgetMs: o.timeBudgetMs,
    }),
    ...(o.blockSize ? { blockSize: o.blockSize } : {}),
    ...(o.draft && o.draft !== 1 ? { draft: o.draft } : {}),
    ...(o.maxForwards ? { maxForwards: o.maxForwards } : {}),
  };
  const load = { modelDir: path.resolve(o.modelDir ?? defaultModelDir(ROOT)), executionProvider: o.executionProvider ?? 'cpu', threads: o.threads ?? 0 };
  checkCompleteRequest(request); // the bounds of src/engine/bounds.ts, as the server checks them
  checkBound('threads', load.threads);
  if (o.serverUrl) return completeRemote({ serverUrl: o.serverUrl, ...(o.modelDir ? { modelDir: o.modelDir } : {}) }, request);

  if (o.server) {
    const built = path.join(ROOT, 'dist', 'server.js');
    const client = fs.existsSync(built)
      ? new ModelClient({ serverModule: built })
      : new ModelClient({ serverModule: path.join(ROOT, 'src', 'server', 'main.ts'), execArgv: ['--import', 'tsx'] });
    try {
      await client.load(load);
      return await client.complete(request);
    } finally {
      client.dispose();
    }
  }
  // as the server does (clampThreads): more threads than cores only wait for each other (64 on 2 cores: 51 s against 1.5 s)
  const { threads, note } = clampThreads(load.threads, availableParallelism(), '--threads');
  if (note) (o.log ?? ((line: string) => process.stderr.write(`${line}\n`)))(note);
  const model = await loadModel(load.modelDir, { ...load, threads });
  try {
    return await decode(model, request);
  } finally {
    await model.dispose();
  }
}

/** The visualizer page; builds the webview bundle first (the project's own esbuild.js) when it is not built yet. */
export function traceHtml(trace: Trace, log: (line: string) => void = () => {}): string {
  if (!visualizerBundleDir()) {
    log('building the visualizer bundle (node esbuild.js) for --html');
    const built = spawnSync(process.execPath, ['esbuild.js'], { cwd: ROOT, encoding: 'utf8' });
    if (built.status !== 0)
      throw new Error(`--html: building the visualizer bundle failed (node esbuild.js in ${ROOT}): ${(built.stderr || built.stdout || '').trim().slice(-500)}`);
  }
  return renderStandaloneHtml(trace);
}

/** What the editor would show for this trace under the gate, and one line for stderr that says so and why. */
export function gateVerdict(trace: Trace, minConfidence: number): { shown: boolean; line: string } {
  const { confidence, stoppedBy, text } = trace.result;
  const s = trace.stats;
  const facts =
    `confidence ${Number.isFinite(confidence) ? confidence.toFixed(2) : String(confidence)}, stopped by ${stoppedBy}, ` +
    `${s.forwards} forwards, ${s.tokens} tokens, ${Math.round(s.msTotal)} ms`;
  if (!text) return { shown: false, line: `${facts}; nothing to show: the completion is empty` };
  const shown = Number.isFinite(confidence) && confidence >= minConfidence;
  return shown
    ? { shown, line: facts }
    : {
        shown,
        line:
          `${facts}; not shown: confidence below --min-confidence ${minConfidence} (the editor's unmask.minConfidence), ` +
          `as the editor would not show it; --min-confidence 0 prints it: ${JSON.stringify(text)}`,
      };
}

const USAGE = `usage: npm run complete -- --file F --line L --col C [options]
Completes file F at line L, column C (both count from 1; C may be one past the line's end) with a model folder
and prints the completion.
  --policy P        ${policySyntax()} (default ${formatPolicy(DEFAULT_POLICY)}); a bare name takes the table's default;
                    +draftK: lossless draft-and-verify, K canvases per batched forward (+draft: the model's K),
                    +noeotp, +blockN as --no-eotp, --block
  --slots N         mask slots (default: the model folder's budget, ${DEFAULT_SLOTS.singleLine} inside a line and ${DEFAULT_SLOTS.multiLine} at a line's end for the bundled model)
  --block N         semi-autoregressive blocks of N slots
  --max-forwards N  stop after N forward passes
  --min-confidence X  print the completion only when its confidence is at least X, as the editor's gate
                    (default ${DEFAULT_GATE.minConfidence}, unmask.minConfidence; 0 prints every completion)
  --time-budget MS  stop decoding after MS milliseconds, as the editor (default ${DEFAULT_GATE.timeBudgetMs}: from the model's measured cost,
                    unmask.timeBudgetMs; 0: none); the canvas is planned to fit it
  --no-eotp         end-of-text prediction off
  --json            print the whole trace as JSON, whatever the gate (\`npm run -s\` keeps npm's banner off stdout)
  --html OUT        write the visualizer page for this completion to OUT
  --model DIR       model folder (default: the bundled model)
  --threads N       onnxruntime threads (default: half the cores, 1 to 4)
  --server          decode in a forked model server, as the editor does
  --server-url URL  each forward on a team server (npm run serve; the token in UNMASK_SERVER_TOKEN);
                    with --model DIR the tokenizer is that folder's, checked against the server's
  -h, --help        this text`;

export async function main(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      file: { type: 'string' },
      line: { type: 'string' },
      col: { type: 'string' },
      policy: { type: 'string' },
      slots: { type: 'string' },
      block: { type: 'string' },
      'max-forwards': { type: 'string' },
      'no-eotp': { type: 'boolean' },
      'min-confidence': { type: 'string' },
      'time-budget': { type: 'string' },
      json: { type: 'boolean' },
      html: { type: 'string' },
      model: { type: 'string' },
      threads: { type: 'string' },
      server: { type: 'boolean' },
      'server-url': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (v.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!v.file || !v.line || !v.col) throw new Error(`--file, --line and --col are required\n${USAGE}`);
  const num = (name: string, value: string | undefined, integer = false): number | undefined => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)))
      throw new Error(`--${name} ${value}: expected ${integer ? 'an integer' : 'a number'}`);
    return n;
  };
  // --policy takes the benchmark's suffixes too: sequential+draft4, threshold:0.9+noeotp, factor:2+block8
  const policyArg = v.policy === undefined ? undefined : parsePolicyArg(v.policy);
  const policy = policyArg?.spec ?? DEFAULT_POLICY;

  // numbers outside src/engine/bounds.ts are refused naming the flag (a million threads never loads)
  const flags: [BoundName, string][] = [
    ['slots', 'slots'],
    ['blockSize', 'block'],
    ['maxForwards', 'max-forwards'],
    ['threads', 'threads'],
  ];
  for (const [bound, flag] of flags)
    if (v[flag as keyof typeof v] !== undefined) checkBound(bound, num(flag, v[flag as keyof typeof v] as string), `--${flag}`);
  const minConfidence = num('min-confidence', v['min-confidence']) ?? DEFAULT_GATE.minConfidence;
  checkBound('minConfidence', minConfidence, '--min-confidence');
  const timeBudgetMs = v['time-budget'] === 'auto' ? 'auto' : (num('time-budget', v['time-budget'], true) ?? DEFAULT_GATE.timeBudgetMs);
  if (timeBudgetMs !== 0 && timeBudgetMs !== 'auto') checkBound('settingsTimeBudgetMs', timeBudgetMs, '--time-budget');
  const trace = await completeFile({
    file: v.file,
    line: num('line', v.line, true)!,
    col: num('col', v.col, true)!,
    policy,
    slots: num('slots', v.slots, true),
    blockSize: num('block', v.block, true) ?? policyArg?.blockSize,
    draft: policyArg?.draft,
    maxForwards: num('max-forwards', v['max-forwards'], true),
    eotp: !v['no-eotp'] && (policyArg?.eotp ?? true),
    modelDir: v.model,
    threads: num('threads', v.threads, true),
    server: v.server,
    serverUrl: v['server-url'],
    timeBudgetMs,
  }).catch((e: unknown) => {
    throw v.model ? withModelFolderNextStep(e, v.model, 'cli') : e;
  });
  const stderr = (line: string) => process.stderr.write(`${line}\n`);
  if (v.html) fs.writeFileSync(v.html, traceHtml(trace, stderr));
  const verdict = gateVerdict(trace, minConfidence);
  stderr(verdict.line);
  if (v.json) process.stdout.write(`${JSON.stringify(trace, null, 2)}\n`);
  else if (verdict.shown) process.stdout.write(`${trace.result.text}\n`);
  return 0;
}

function parsePolicyArg(text: string): BenchPolicy {
  try {
    return parseBenchPolicy(text);
  } catch (e) {
    throw new Error(`--policy ${text}: ${(e as Error).message}`, { cause: e });
  }
}

if (require.main === module) runMain('unmask complete', () => main(process.argv.slice(2)));
