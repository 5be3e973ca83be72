// Decides which completion the model server runs: the one place where "latest wins" (docs/architecture.md, "Parts").
// No vscode import. Sending, deadlines and restarts are serverProcess.ts's job.
//
// Each request names a channel (default 'inline'); a newer request supersedes the older one of its channel only —
// the waiting one is dropped unsent, the running one is cancelled through vscode-jsonrpc's $/cancelRequest and
// stops before its next forward. The server gets at most one request at a time, and at most one request waits per
// channel, so a storm of requests costs at most the running decode's next forward and the last request. The wait
// before asking (the typing-speed debounce) is the inline provider's (src/debounce.ts), not this.
import { CancellationTokenSource } from 'vscode-jsonrpc/node';
import { CancelledError } from '../engine/types';
import type { CompleteRequest, StepParams, Trace, TraceStep } from '../protocol';
import type { ServerProcess } from './serverProcess';

export interface CompleteOptions {
  /** Requests supersede the older one of their own channel only (default 'inline'). */
  channel?: string;
}

interface Job {
  id: number;
  channel: string;
  request: CompleteRequest;
  onStep?: (step: TraceStep) => void;
  settled: boolean;
  settle: (result: Trace | Error) => void;
  /** Set once it is sent: cancelling it sends $/cancelRequest. */
  cancel?: CancellationTokenSource;
}

export class RequestScheduler {
  private nextId = 1;
  /** Completions not yet sent, at most one per channel, oldest first. */
  private readonly queue: Job[] = [];
  /** The completion sent to the server and not yet answered (it may already be settled for its caller). */
  private active?: Job;
  private disposed = false;

  constructor(private readonly server: ServerProcess) {
    server.onStep = (p: StepParams) => {
      const job = this.active;
      if (job && job.id === p.id && !job.settled) job.onStep?.(p.step);
    };
  }

  /** Settles with the trace, or with a CancelledError when a newer request of its channel or `signal` supersedes it. */
  complete(request: CompleteRequest, signal?: AbortSignal, onStep?: (step: TraceStep) => void, options: CompleteOptions = {}): Promise<Trace> {
    if (signal?.aborted) return Promise.reject(new CancelledError());
    const channel = options.channel ?? 'inline';
    const older = [...this.queue.filter((j) => j.channel === channel), ...(this.active?.channel === channel && !this.active.settled ? [this.active] : [])];
    for (const old of older) old.settle(new CancelledError('superseded by a newer completion'));

    return new Promise<Trace>((resolve, reject) => {
      const onAbort = () => job.settle(new CancelledError());
      const job: Job = {
        id: this.nextId++,
        channel,
        request,
        onStep,
        settled: false,
        settle: (result) => {
          if (job.settled) return;
          job.settled = true;
          signal?.removeEventListener('abort', onAbort);
          const queued = this.queue.indexOf(job);
          if (queued >= 0) this.queue.splice(queued, 1);
          if (result instanceof Error) {
            job.cancel?.cancel();
            reject(result);
          } else resolve(result);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(job);
      this.pump();
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const job of [...this.queue]) job.settle(new CancelledError('the model client was disposed'));
    this.active?.settle(new CancelledError('the model client was disposed'));
  }

  /** Sends the oldest waiting completion once the server has answered the one before. */
  private pump(): void {
    if (this.active || this.disposed) return;
    const job = this.queue.shift();
    if (!job) return;
    this.active = job;
    void this.run(job).finally(() => {
      if (this.active === job) this.active = undefined;
      this.pump();
    });
  }

  private async run(job: Job): Promise<void> {
    try {
      await this.server.restored();
      if (job.settled) return;
      job.cancel = new CancellationTokenSource();
      job.settle(await this.server.complete({ id: job.id, request: job.request, streamSteps: !!job.onStep }, job.cancel.token));
    } catch (e) {
      job.settle(e instanceof Error ? e : new Error(String(e)));
    }
  }
}
