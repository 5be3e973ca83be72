// The `unmask.*` settings as plain values, and their validation. No `vscode` import: unit-tested on Node.
import { DEFAULT_SLOTS } from './engine/canvas';
import { DEFAULT_POLICY } from './engine/policies';
import type { ExecutionProviderSetting, PolicyName, PolicySpec } from './protocol';

export type LogLevel = 'error' | 'info' | 'debug';

export interface Settings {
  enable: boolean;
  enabledLanguages: Record<string, boolean>;
  logLevel: LogLevel;
  modelFolder: string;
  executionProvider: ExecutionProviderSetting;
  threads: number;
  policy: PolicySpec;
  endOfTextPrediction: boolean;
  singleLineSlots: number;
  multiLineSlots: number;
  debounceMs: number;
}

export const defaultSettings: Settings = {
  enable: true,
  enabledLanguages: { '*': true, plaintext: false, markdown: false, scminput: false },
  logLevel: 'info',
  modelFolder: '',
  executionProvider: 'auto',
  threads: 0,
  policy: { name: DEFAULT_POLICY.name },
  endOfTextPrediction: true,
  singleLineSlots: DEFAULT_SLOTS.singleLine,
  multiLineSlots: DEFAULT_SLOTS.multiLine,
  debounceMs: 150,
};

export const policyNames: readonly PolicyName[] = ['sequential', 'fixed', 'threshold', 'factor', 'entropy'];
const executionProviders: readonly ExecutionProviderSetting[] = ['auto', 'cpu', 'cuda', 'dml', 'coreml', 'webgpu'];
const logLevels: readonly LogLevel[] = ['error', 'info', 'debug'];

/** Which field of PolicySpec carries the single `unmask.policyParameter`, and its valid range. */
export const policyParameter: Record<PolicyName, { field: 'k' | 'tau' | 'f' | 'gamma' | null; min: number; max: number; integer: boolean }> = {
  sequential: { field: null, min: 0, max: 0, integer: false },
  fixed: { field: 'k', min: 1, max: 256, integer: true },
  threshold: { field: 'tau', min: 0, max: 1, integer: false },
  factor: { field: 'f', min: 0, max: 64, integer: false },
  entropy: { field: 'gamma', min: 0, max: 64, integer: false },
};

export interface SettingsResult {
  settings: Settings;
  /** One message per rejected setting, naming it; the previous value of that setting is kept. */
  problems: string[];
}

/**
 * Reads every setting through `get` (a raw value, or undefined when unset) and keeps, for each one
 * that is invalid, its value from `previous`, so a typo never switches Unmask off.
 */
export function readSettings(get: (key: string) => unknown, previous: Settings = defaultSettings): SettingsResult {
  const problems: string[] = [];
  function pick<T>(key: keyof Settings, ok: (v: unknown) => v is T, expected: string): T {
    const value = get(key);
    if (value === undefined) return defaultSettings[key] as T;
    if (ok(value)) return value;
    problems.push(`unmask.${key}: expected ${expected}, got ${JSON.stringify(value)}; keeping ${JSON.stringify(previous[key])}.`);
    return previous[key] as T;
  }
  const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
  const intIn = (min: number, max: number) => (v: unknown): v is number =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
  const oneOf = <T extends string>(list: readonly T[]) => (v: unknown): v is T => list.includes(v as T);

  const enabledLanguages = pick('enabledLanguages',
    (v): v is Record<string, boolean> => typeof v === 'object' && v !== null && !Array.isArray(v)
      && Object.values(v).every((b) => typeof b === 'boolean'),
    'an object of language id → true/false');
  const modelFolder = pick('modelFolder', (v): v is string => typeof v === 'string'
    && (v.trim() === '' || isAbsolutePath(v.trim())), 'an absolute folder path, or empty for the bundled model');

  const policyName = pick('policy', oneOf(policyNames), `one of ${policyNames.join(', ')}`);
  const policy: PolicySpec = { name: policyName };
  const rawParameter = get('policyParameter');
  const rule = policyParameter[policyName];
  if (rawParameter !== undefined && rawParameter !== null && rule.field) {
    const valid = typeof rawParameter === 'number' && rawParameter >= rule.min && rawParameter <= rule.max
      && (!rule.integer || Number.isInteger(rawParameter));
    if (valid) policy[rule.field] = rawParameter;
    else {
      const kept = previous.policy.name === policyName ? previous.policy[rule.field] : undefined;
      problems.push(`unmask.policyParameter: ${rule.field} for ${policyName} must be ${rule.integer ? 'an integer' : 'a number'} `
        + `in [${rule.min}, ${rule.max}], got ${JSON.stringify(rawParameter)}; keeping ${kept ?? 'the policy default'}.`);
      if (kept !== undefined) policy[rule.field] = kept;
    }
  }

  return {
    settings: {
      enable: pick('enable', isBool, 'true or false'),
      enabledLanguages,
      logLevel: pick('logLevel', oneOf(logLevels), logLevels.join(', ')),
      modelFolder: modelFolder.trim(),
      executionProvider: pick('executionProvider', oneOf(executionProviders), executionProviders.join(', ')),
      threads: pick('threads', intIn(0, 64), 'an integer from 0 to 64'),
      policy,
      endOfTextPrediction: pick('endOfTextPrediction', isBool, 'true or false'),
      singleLineSlots: pick('singleLineSlots', intIn(4, 128), 'an integer from 4 to 128'),
      multiLineSlots: pick('multiLineSlots', intIn(4, 256), 'an integer from 4 to 256'),
      debounceMs: pick('debounceMs', intIn(0, 2000), 'an integer from 0 to 2000'),
    },
    problems,
  };
}

export function isLanguageEnabled(settings: Settings, languageId: string): boolean {
  return settings.enabledLanguages[languageId] ?? settings.enabledLanguages['*'] ?? true;
}

/** The thread count handed to onnxruntime: 0 means the number of cores, at most 4. */
export function effectiveThreads(setting: number, cores: number): number {
  return setting > 0 ? setting : Math.max(1, Math.min(4, cores));
}

function isAbsolutePath(p: string): boolean {
  return p.startsWith('/') || /^[A-Za-z]:[\\/]/.test(p) || p.startsWith('\\\\') || p.startsWith('~/');
}
