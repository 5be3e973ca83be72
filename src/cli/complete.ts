// `npm run complete -- --file F --line L --col C [...]` (docs/architecture.md, "The command line"): completes at 1-based line L,
// column C of file F and prints the completion, or the trace with --json. Also a library function.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { ModelClient } from '../client/modelClient';
import { buildRequest, decode, DEFAULT_POLICY, DEFAULT_SLOTS, formatPolicy, parsePolicy, policySyntax, type CursorText } from '../engine';
import { checkBound, checkCompleteRequest, type BoundName } from '../engine/bounds';
import { defaultModelDir, loadModel } from '../model';
import type { CompleteRequest, ExecutionProviderSetting, PolicySpec, Trace } from '../protocol';
import { renderStandaloneHtml } from '../visualizer/standalone';
import { renderStepTable } from './htmlTable';
import { runMain } from './runMain';

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
  maxForwards?: number;
  modelDir?: string;
  threads?: number;
  executionProvider?: ExecutionProviderSetting;
  /** Decode in a forked model server (as the editor does) instead of in this process. */
  server?: boolean;
}

/** Completes at a position of a file with a model folder; returns the trace (result.text is the completion). */
export async function completeFile(o: CompleteFileOptions): Promise<Trace> {
  let text: string;
  try {
    text = fs.readFileSync(o.file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${o.file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder' : `cannot be read (${code})`}`);
  }
  const at = cursorContext(text, o.line, o.col, o.file);
  const request: CompleteRequest = {
    ...buildRequest(at, { policy: o.policy ?? DEFAULT_POLICY, endOfTextPrediction: o.eotp ?? true, singleLineSlots: o.slots, multiLineSlots: o.slots }),
    ...(o.blockSize ? { blockSize: o.blockSize } : {}), ...(o.maxForwards ? { maxForwards: o.maxForwards } : {}),
  };
  const load = { modelDir: path.resolve(o.modelDir ?? defaultModelDir(ROOT)), executionProvider: o.executionProvider ?? 'cpu', threads: o.threads ?? 0 };
  checkCompleteRequest(request); // the bounds of src/engine/bounds.ts, as the server checks them
  checkBound('threads', load.threads);

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
  const model = await loadModel(load.modelDir, load);
  try {
    return await decode(model, request);
  } finally {
    await model.dispose();
  }
}

/** The visualizer page when its bundle is built, else a plain table of the steps. */
export function traceHtml(trace: Trace): { html: string; note?: string } {
  try {
    return { html: renderStandaloneHtml(trace) };
  } catch (e) {
    return { html: renderStepTable(trace), note: `${(e as Error).message}; wrote a plain table of the steps instead` };
  }
}

const USAGE = `usage: npm run complete -- --file F --line L --col C [options]
Completes file F at line L, column C (both count from 1; C may be one past the line's end) with a model folder
and prints the completion.
  --policy P        ${policySyntax()} (default ${formatPolicy(DEFAULT_POLICY)}); a bare name takes the table's default
  --slots N         mask slots (default: the model folder's budget, ${DEFAULT_SLOTS.singleLine} inside a line and ${DEFAULT_SLOTS.multiLine} at a line's end for the bundled model)
  --block N         semi-autoregressive blocks of N slots
  --max-forwards N  stop after N forward passes
  --no-eotp         end-of-text prediction off
  --json            print the whole trace as JSON
  --html OUT        write the visualizer page for this completion to OUT
  --model DIR       model folder (default: the bundled model)
  --threads N       onnxruntime threads (default: half the cores, 1 to 4)
  --server          decode in a forked model server, as the editor does
  -h, --help        this text`;

export async function main(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      file: { type: 'string' }, line: { type: 'string' }, col: { type: 'string' },
      policy: { type: 'string' },
      slots: { type: 'string' }, block: { type: 'string' }, 'max-forwards': { type: 'string' }, 'no-eotp': { type: 'boolean' },
      json: { type: 'boolean' }, html: { type: 'string' }, model: { type: 'string' }, threads: { type: 'string' },
      server: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
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
    if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) throw new Error(`--${name} ${value}: expected ${integer ? 'an integer' : 'a number'}`);
    return n;
  };
  const policy = v.policy === undefined ? DEFAULT_POLICY : parsePolicyArg(v.policy);

  // numbers outside src/engine/bounds.ts are refused naming the flag (a million threads never loads)
  const flags: [BoundName, string][] = [['slots', 'slots'], ['blockSize', 'block'], ['maxForwards', 'max-forwards'], ['threads', 'threads']];
  for (const [bound, flag] of flags) if (v[flag as keyof typeof v] !== undefined) checkBound(bound, num(flag, v[flag as keyof typeof v] as string), `--${flag}`);
  const trace = await completeFile({
    file: v.file, line: num('line', v.line, true)!, col: num('col', v.col, true)!, policy,
    slots: num('slots', v.slots, true), blockSize: num('block', v.block, true), maxForwards: num('max-forwards', v['max-forwards'], true),
    eotp: !v['no-eotp'], modelDir: v.model, threads: num('threads', v.threads, true), server: v.server,
  });
  if (v.html) {
    const { html, note } = traceHtml(trace);
    fs.writeFileSync(v.html, html);
    if (note) process.stderr.write(`note: ${note}\n`);
  }
  process.stdout.write(v.json ? `${JSON.stringify(trace, null, 2)}\n` : `${trace.result.text}\n`);
  return 0;
}

function parsePolicyArg(text: string): PolicySpec {
  try {
    return parsePolicy(text);
  } catch (e) {
    throw new Error(`--policy ${text}: ${(e as Error).message}`);
  }
}

if (require.main === module) runMain('unmask complete', () => main(process.argv.slice(2)));
