// The last completions: their traces for the visualizer and debug info, their latencies for the status bar,
// and the one-time notice when completions are consistently slow.
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import type { Trace } from '../protocol';

export interface Completion {
  id: string;
  /** Where it was made, e.g. "main.py:12:5". */
  label: string;
  time: number;
  trace: Trace;
  /** From the request leaving the extension to the trace coming back. */
  latencyMs: number;
  /** What was offered to the user after shaping ('' when nothing was). */
  suggestion: string;
  /** The gate (unmask.minConfidence) it was judged by, for inline completions. */
  minConfidence?: number;
}

const keep = 20;
/** Completions slower than this, several in a row, get one notice with the likely cause. */
const slowMs = 1500;
const slowRun = 5;

export class History implements vscode.Disposable {
  private readonly items: Completion[] = [];
  private readonly added = new vscode.EventEmitter<Completion>();
  readonly onDidAdd = this.added.event;
  private warnedSlow = false;
  private nextId = 1;

  /** `traceLog`: a file that gets one JSON line per completion (UNMASK_TRACE_LOG; the editor tests read it). */
  constructor(
    private readonly traceLog: string | undefined,
    private readonly onSlow: (median: number) => void,
  ) {}

  get all(): readonly Completion[] {
    return this.items;
  }
  get last(): Completion | undefined {
    return this.items[this.items.length - 1];
  }

  add(entry: Omit<Completion, 'id' | 'time'>): Completion {
    const completion: Completion = { ...entry, id: String(this.nextId++), time: Date.now() };
    this.items.push(completion);
    if (this.items.length > keep) this.items.shift();
    if (this.traceLog) {
      const { label, latencyMs, suggestion, trace, minConfidence } = completion;
      const policy = trace.policy.name;
      const { text, confidence, stoppedBy } = trace.result;
      const lastStepAt = trace.steps[trace.steps.length - 1]?.at ?? 0;
      fs.appendFileSync(
        this.traceLog,
        `${JSON.stringify({
          label,
          latencyMs,
          suggestion,
          policy,
          text,
          confidence,
          stoppedBy,
          lastStepAt,
          timeBudgetMs: trace.policy.timeBudgetMs,
          minConfidence,
          stats: trace.stats,
        })}\n`,
      );
    }
    this.added.fire(completion);
    const recent = this.items.slice(-slowRun);
    if (!this.warnedSlow && recent.length === slowRun && recent.every((c) => c.latencyMs > slowMs)) {
      this.warnedSlow = true;
      const sorted = recent.map((c) => c.latencyMs).sort((a, b) => a - b);
      this.onSlow(sorted[Math.floor(sorted.length / 2)]);
    }
    return completion;
  }

  dispose(): void {
    this.added.dispose();
  }
}
