// Short descriptions of traces for the history picker and comparison titles. No vscode here.
import type { Trace } from '../protocol';

/** `threshold "return a + b"`: the policy and the start of the completion. */
export function describeTrace(trace: Trace): string {
  return `${trace.policy.name} ${describeText(trace.result.text)}`;
}

/** The completion's first non-blank line, quoted and shortened, or "(empty)". */
export function describeText(text: string): string {
  const line = (text.split('\n').find((l) => l.trim()) ?? '').trim();
  if (!line) return '(empty)';
  return JSON.stringify(line.length > 40 ? `${line.slice(0, 39)}…` : line);
}
