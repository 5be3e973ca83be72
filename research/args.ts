// The one command-line parser of the research scripts: the options they share (--model, --tasks, --limit, --out,
// --threads) mean the same thing in each, each script adds its own, and --help prints them all with their defaults.
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { defaultModelDir } from '../src/model';

/** The repository's root: the research scripts' defaults are paths inside it. */
export const ROOT = path.resolve(__dirname, '..');

export interface OptionSpec {
  help: string;
  default?: string;
  /** A flag without a value (its value is 'true' when given). */
  flag?: true;
}

export interface ScriptSpec<K extends string> {
  /** What the script does and how it is called: the first lines of --help. */
  usage: string;
  /** The script's own defaults for the shared options (--model defaults to the bundled model everywhere). */
  defaults?: { tasks?: string; out?: string; limit?: number; threads?: number };
  /** The script's own options, all read as strings. */
  options?: Record<K, OptionSpec>;
  /** Names of the positional arguments, for --help; none are accepted when absent. */
  positionals?: string[];
}

export interface ResearchArgs<K extends string> {
  model: string;
  tasks: string;
  limit: number | undefined;
  out: string | undefined;
  threads: number;
  /** The script's own options: the value given, else its default, else undefined. */
  own: Record<K, string | undefined>;
  positionals: string[];
}

const SHARED: Record<'model' | 'tasks' | 'limit' | 'out' | 'threads', string> = {
  model: 'model folder',
  tasks: 'folder of task files (*.jsonl), as src/bench/tasks.ts reads them',
  limit: 'the first N tasks of each file',
  out: 'where the result is written',
  threads: 'onnxruntime threads (CPU)',
};

function help<K extends string>(spec: ScriptSpec<K>, shared: Record<string, string | undefined>): string {
  const rows: [string, string][] = Object.entries(SHARED).map(([name, text]) => [
    `--${name} ${name === 'limit' || name === 'threads' ? 'N' : 'PATH'}`,
    text + (shared[name] !== undefined ? ` (default: ${shared[name]})` : ''),
  ]);
  for (const [name, o] of Object.entries<OptionSpec>(spec.options ?? ({} as Record<K, OptionSpec>))) {
    rows.push([`--${name}${o.flag ? '' : ' X'}`, o.help + (o.default !== undefined ? ` (default: ${o.default})` : '')]);
  }
  rows.push(['--help', 'this text']);
  const width = Math.max(...rows.map(([a]) => a.length)) + 2;
  return `${spec.usage}\n\nOptions:\n${rows.map(([a, b]) => `  ${a.padEnd(width)}${b}`).join('\n')}\n`;
}

function count(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a whole number of at least 1, got ${JSON.stringify(value)}`);
  return n;
}

/** Parses `argv` for a research script; prints the help and exits on --help. Unknown options are an error. */
export function researchArgs<K extends string = never>(spec: ScriptSpec<K>, argv = process.argv.slice(2)): ResearchArgs<K> {
  const d = spec.defaults ?? {};
  const shared: Record<string, string | undefined> = {
    model: path.relative(ROOT, defaultModelDir(ROOT)),
    tasks: d.tasks ?? path.join('bench', 'tasks'),
    limit: d.limit?.toString(),
    out: d.out,
    threads: String(d.threads ?? 1),
  };
  const own = (spec.options ?? {}) as Record<string, OptionSpec>;
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
  for (const name of Object.keys(SHARED)) options[name] = { type: 'string' };
  for (const [name, o] of Object.entries(own)) {
    if (name in options) throw new Error(`research/args.ts: --${name} is a shared option; do not declare it again`);
    options[name] = { type: o.flag ? 'boolean' : 'string' };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: (spec.positionals?.length ?? 0) > 0, strict: true });
  } catch (e) {
    throw new Error(`${(e as Error).message}\n\n${help(spec, shared)}`, { cause: e });
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  if (v.help) {
    process.stdout.write(help(spec, shared));
    process.exit(0);
  }
  const str = (name: string) => (typeof v[name] === 'string' ? (v[name] as string) : undefined);
  // a path given on the command line is the caller's (relative to the working directory); a default is the repository's
  const given = (name: string, fallback: string | undefined) =>
    str(name) !== undefined ? path.resolve(str(name)!) : fallback !== undefined ? path.resolve(ROOT, fallback) : undefined;
  return {
    model: given('model', undefined) ?? defaultModelDir(ROOT),
    tasks: given('tasks', d.tasks ?? path.join('bench', 'tasks'))!,
    limit: count('limit', str('limit')) ?? d.limit,
    out: given('out', d.out),
    threads: count('threads', str('threads')) ?? d.threads ?? 1,
    own: Object.fromEntries(Object.entries(own).map(([name, o]) => [name, o.flag ? (v[name] ? 'true' : undefined) : (str(name) ?? o.default)])) as Record<
      K,
      string | undefined
    >,
    positionals: parsed.positionals,
  };
}

/** Runs a research script's main, printing its error and setting a failing exit code. */
export function run(main: () => Promise<void>): void {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exitCode = 1;
  });
}
