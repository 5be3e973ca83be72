// `npm run complete -- --file F --line L --col C [...]` (design §5): completes at 1-based line L,
// column C of file F and prints the completion, or the trace with --json. Also a library function.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { ModelClient } from '../client/modelClient';
import { decode, DEFAULT_POLICY, DEFAULT_SLOTS, POLICY_NAMES } from '../engine';
import { checkBound, checkCompleteRequest, type BoundName } from '../engine/bounds';
import { defaultModelDir, loadModel } from '../model';
import type { CompleteRequest, ExecutionProviderSetting, PolicyName, PolicySpec, Trace } from '../protocol';
import { renderStandaloneHtml } from '../visualizer/standalone';
import { renderStepTable } from './htmlTable';
import { runMain } from './runMain';

const ROOT = path.resolve(__dirname, '..', '..');

export interface CursorContext {
  prefix: string;
  suffix: string;
  /** Text other than whitespace right of the cursor on its line: complete inside the line only. */
  singleLine: boolean;
}

/** Splits `text` at 1-based `line`, `col` (col may be one past the line's end). */
export function cursorContext(text: string, line: number, col: number, file = 'the file'): CursorContext {
  const lines = text.split('\n');
  if (!Number.isInteger(line) || line < 1 || line > lines.length) {
    throw new Error(`line ${line} is out of range: ${file} has ${lines.length} lines`);
  }
  const content = lines[line - 1].replace(/\r$/, '');
  if (!Number.isInteger(col) || col < 1 || col > content.length + 1) {
    throw new Error(`column ${col} is out of range: line ${line} of ${file} has ${content.length} characters (columns 1…${content.length + 1})`);
  }
  const offset = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0) + col - 1;
  return { prefix: text.slice(0, offset), suffix: text.slice(offset), singleLine: content.slice(col - 1).trim() !== '' };
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
    prefix: at.prefix, suffix: at.suffix, singleLine: at.singleLine,
    slots: o.slots ?? (at.singleLine ? DEFAULT_SLOTS.singleLine : DEFAULT_SLOTS.multiLine),
    policy: o.policy ?? DEFAULT_POLICY, eotp: o.eotp ?? true,
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

const USAGE = `usage: npm run complete -- --file F --line L --col C [--policy ${POLICY_NAMES.join('|')}]
  [--tau X] [--k N] [--f X] [--gamma X] [--slots N] [--block N] [--max-forwards N] [--no-eotp]
  [--json] [--html OUT] [--model DIR] [--threads N] [--server]`;

export async function main(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      file: { type: 'string' }, line: { type: 'string' }, col: { type: 'string' },
      policy: { type: 'string' }, tau: { type: 'string' }, k: { type: 'string' }, f: { type: 'string' }, gamma: { type: 'string' },
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
  const name = (v.policy ?? DEFAULT_POLICY.name) as PolicyName;
  if (!POLICY_NAMES.includes(name)) throw new Error(`--policy ${v.policy}: expected one of ${POLICY_NAMES.join(', ')}`);
  const policy: PolicySpec = { name };
  const params = { tau: num('tau', v.tau), k: num('k', v.k, true), f: num('f', v.f), gamma: num('gamma', v.gamma) };
  for (const [key, value] of Object.entries(params)) if (value !== undefined) (policy as unknown as Record<string, number>)[key] = value;

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

if (require.main === module) runMain('unmask complete', () => main(process.argv.slice(2)));
