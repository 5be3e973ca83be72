// The `unmask.*` settings as plain values, and their validation. No `vscode` import: unit-tested on Node.
import { availableParallelism } from 'node:os';
import { DEFAULT_POLICY, isPolicyName, parameterProblem, policyParameter, POLICY_NAMES, specParameter, type PolicySpec } from './engine/policyTable';
import { BOUNDS, clampThreads, type Bound } from './engine/bounds';
import { DEFAULT_GATE } from './engine/gate';
import type { ExecutionProviderSetting } from './protocol';

export type LogLevel = 'error' | 'info' | 'debug';

export interface Settings {
  enable: boolean;
  enabledLanguages: Record<string, boolean>;
  logLevel: LogLevel;
  modelFolder: string;
  /** A team server (serve/README.md) that runs every forward instead of the local model; empty: the local model. */
  serverUrl: string;
  executionProvider: ExecutionProviderSetting;
  threads: number;
  policy: PolicySpec;
  endOfTextPrediction: boolean;
  singleLineSlots: number;
  multiLineSlots: number;
  debounceMs: number;
  /** Show a completion only when its confidence (engine/gate.ts) is at least this; 0 shows every one. */
  minConfidence: number;
  /** Stop decoding after this many milliseconds and show what is settled, or nothing; 'auto': from the model's cost. */
  timeBudgetMs: number | 'auto';
  /** Lossless draft-and-verify (engine/draft.ts): canvases per batched forward; 1: off. */
  draft: number;
  /** Reuse across keystrokes (model/cachedDenoiser.ts REUSE): a request takes the rows it shares with the last one from the cache. */
  reuse: boolean;
}

export const defaultSettings: Settings = {
  enable: true,
  enabledLanguages: { '*': true, plaintext: false, markdown: false, scminput: false },
  logLevel: 'info',
  modelFolder: '',
  serverUrl: '',
  executionProvider: 'auto',
  threads: 0,
  policy: { name: DEFAULT_POLICY.name },
  endOfTextPrediction: true,
  singleLineSlots: 0,
  multiLineSlots: 0,
  debounceMs: 150,
  minConfidence: DEFAULT_GATE.minConfidence,
  timeBudgetMs: DEFAULT_GATE.timeBudgetMs,
  draft: 1,
  reuse: true,
};

/** The numeric settings' ranges, from the one table of bounds: read by validation below and checked against
 * package.json by a unit test. */
export const numericSettings = {
  threads: BOUNDS.threads,
  singleLineSlots: BOUNDS.singleLineSlots,
  multiLineSlots: BOUNDS.multiLineSlots,
  debounceMs: BOUNDS.debounceMs,
  minConfidence: BOUNDS.minConfidence,
  timeBudgetMs: BOUNDS.settingsTimeBudgetMs,
  draft: BOUNDS.draft,
} as const satisfies Partial<Record<keyof Settings, Bound>>;

export const executionProviders: readonly ExecutionProviderSetting[] = ['auto', 'cpu', 'cuda', 'dml', 'coreml', 'webgpu'];
export const logLevels: readonly LogLevel[] = ['error', 'info', 'debug'];

export interface SettingsResult {
  settings: Settings;
  /** One message per rejected setting, naming it; the previous value of that setting is kept. */
  problems: string[];
  /** Lines for the log about values used other than as written (threads above the machine's cores). */
  notes: string[];
}

/**
 * Reads every setting through `get` (a raw value, or undefined when unset) and keeps, for each one
 * that is invalid, its value from `previous`, so a typo never switches Unmask off.
 */
export function readSettings(get: (key: string) => unknown, previous: Settings = defaultSettings, cores = availableParallelism()): SettingsResult {
  const problems: string[] = [];
  const notes: string[] = [];
  function pick<T>(key: keyof Settings, ok: (v: unknown) => v is T, expected: string): T {
    const value = get(key);
    if (value === undefined) return defaultSettings[key] as T;
    if (ok(value)) return value;
    problems.push(`unmask.${key}: expected ${expected}, got ${JSON.stringify(value)}; keeping ${JSON.stringify(previous[key])}.`);
    return previous[key] as T;
  }
  const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
  const oneOf =
    <T extends string>(list: readonly T[]) =>
    (v: unknown): v is T =>
      list.includes(v as T);

  const enabledLanguages = pick(
    'enabledLanguages',
    (v): v is Record<string, boolean> => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((b) => typeof b === 'boolean'),
    'an object of language id → true/false',
  );
  const modelFolder = pick(
    'modelFolder',
    (v): v is string => typeof v === 'string' && (v.trim() === '' || isAbsolutePath(v.trim())),
    'an absolute folder path, or empty for the bundled model',
  );

  const policy = readPolicy(get, previous.policy, problems);
  const num = (key: keyof typeof numericSettings): number => {
    const { min, max, integer } = numericSettings[key];
    const ok = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max && (!integer || Number.isInteger(v));
    return pick(key, ok, `${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
  };

  return {
    settings: {
      enable: pick('enable', isBool, 'true or false'),
      enabledLanguages,
      logLevel: pick('logLevel', oneOf(logLevels), logLevels.join(', ')),
      modelFolder: modelFolder.trim(),
      serverUrl: pick(
        'serverUrl',
        (v): v is string => typeof v === 'string' && (v.trim() === '' || /^https?:\/\/[^\s]+$/.test(v.trim())),
        'an http:// or https:// URL, or empty for the local model',
      ).trim(),
      executionProvider: pick('executionProvider', oneOf(executionProviders), executionProviders.join(', ')),
      threads: threadsFor(num('threads'), cores, notes),
      policy,
      endOfTextPrediction: pick('endOfTextPrediction', isBool, 'true or false'),
      singleLineSlots: num('singleLineSlots'),
      multiLineSlots: num('multiLineSlots'),
      debounceMs: num('debounceMs'),
      minConfidence: num('minConfidence'),
      timeBudgetMs: get('timeBudgetMs') === 'auto' ? 'auto' : num('timeBudgetMs'),
      draft: num('draft'),
      reuse: pick('reuse', isBool, 'true or false'),
    },
    problems,
    notes,
  };
}

/** unmask.threads up to the machine's cores, with a note when it was more. */
function threadsFor(setting: number, cores: number, notes: string[]): number {
  const { threads, note } = clampThreads(setting, cores, 'unmask.threads');
  if (note) notes.push(note);
  return threads;
}

/**
 * `unmask.policy` and `unmask.policyParameter`, checked against the policy table. An invalid name keeps the
 * previous policy; an invalid parameter keeps the previous one when the policy is the same, else the default.
 */
function readPolicy(get: (key: string) => unknown, previous: PolicySpec, problems: string[]): PolicySpec {
  const rawName = get('policy');
  let name = DEFAULT_POLICY.name;
  if (rawName !== undefined) {
    if (isPolicyName(rawName)) name = rawName;
    else {
      problems.push(`unmask.policy: expected one of ${POLICY_NAMES.join(', ')}, got ${JSON.stringify(rawName)}; keeping ${previous.name}.`);
      return previous;
    }
  }
  const raw = get('policyParameter');
  const parameter = policyParameter(name);
  if (raw === undefined || raw === null || !parameter) return { name } as PolicySpec;
  const problem = parameterProblem(name, raw);
  if (!problem) return { name, [parameter.field]: raw } as PolicySpec;
  const kept = previous.name === name ? specParameter(previous) : undefined;
  problems.push(
    `unmask.policyParameter: ${parameter.field} for ${name} must be ${parameter.integer ? 'an integer' : 'a number'} ` +
      `in [${parameter.min}, ${parameter.max}], got ${JSON.stringify(raw)}; keeping ${kept ?? 'the policy default'}.`,
  );
  return kept === undefined ? ({ name } as PolicySpec) : ({ name, [parameter.field]: kept } as PolicySpec);
}

export function isLanguageEnabled(settings: Settings, languageId: string): boolean {
  return settings.enabledLanguages[languageId] ?? settings.enabledLanguages['*'] ?? true;
}

function isAbsolutePath(p: string): boolean {
  return p.startsWith('/') || /^[A-Za-z]:[\\/]/.test(p) || p.startsWith('\\\\') || p.startsWith('~/');
}
