// The model server's request handling (docs/architecture.md, "Parts"): load a model folder, run one decode at a time,
// stream a step notification per denoising step. The server runs one decode at a time, so a newer complete stops the
// running one (the guard of a server that any client may flood; ModelClient's scheduler decides which request is the
// latest and never sends two at once); before every forward the server drains its message queue (`drain`), so a cancel or a
// newer request that has arrived is seen first: a superseded or cancelled request never starts a
// forward, and a running decode stops at its next step. Transport-agnostic: main.ts wires it to the
// parent's IPC channel (and supplies the drain that knows the connection's queue).
import { availableParallelism } from 'node:os';
import type { CancellationToken, MessageConnection } from 'vscode-jsonrpc/node';
import { CancelledError, decode, type Denoiser } from '../engine';
import { checkCompleteRequest, checkLoadRequest, clampThreads } from '../engine/bounds';
import { loadModel, type LoadedModel } from '../model';
import { connectRemote, type RemoteModel } from '../remote/remoteModel';
import {
  ErrorCodes,
  Notifications,
  Requests,
  toResponseError,
  UnmaskError,
  type CompleteParams,
  type LoadRequest,
  type ModelInfo,
  type ServerStats,
  type Trace,
} from '../protocol';

interface Running {
  id: number;
  controller: AbortController;
  done: Promise<unknown>;
}

/** Lets every queued message in before the next forward; the default only yields two event-loop turns. */
export type Drain = () => Promise<void>;
const twoTurns: Drain = async () => {
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
};

export class ModelServer {
  /** A local folder's model, or a team server's (its forwards go over the network). */
  private model?: LoadedModel | RemoteModel;
  private running?: Running;
  private loading: Promise<unknown> = Promise.resolve();
  private readonly counts = { requests: 0, decodesStarted: 0, forwards: 0, cancelledBeforeStart: 0 };

  constructor(
    private readonly connection: MessageConnection,
    private readonly log: (msg: string) => void = () => undefined,
    private readonly load: typeof loadModel = loadModel,
    private readonly drain: Drain = twoTurns,
  ) {
    connection.onRequest(Requests.load, (params) =>
      this.onLoad(params).catch((e: unknown) => {
        throw toResponseError(e);
      }),
    );
    connection.onRequest(Requests.complete, (params, token) =>
      this.onComplete(params, token).catch((e: unknown) => {
        throw toResponseError(e);
      }),
    );
    connection.onRequest(Requests.stats, () => this.stats());
  }

  /** A request that the connection answered as cancelled before handing it over (main.ts). */
  noteCancelledBeforeDispatch(): void {
    this.counts.requests++;
    this.counts.cancelledBeforeStart++;
  }

  stats(): ServerStats {
    return { pid: process.pid, ...this.counts, rss: process.memoryUsage.rss() };
  }

  async dispose(): Promise<void> {
    this.running?.controller.abort();
    await this.model?.dispose();
    this.model = undefined;
  }

  private async onLoad(params: LoadRequest): Promise<ModelInfo> {
    try {
      checkLoadRequest(params);
    } catch (e) {
      throw new UnmaskError(ErrorCodes.invalidRequest, (e as Error).message);
    }
    // A running decode is not cancelled: a Fill Selection or Compare the user is waiting for finishes on the model
    // it started with, and the new one takes over after it (below); completions sent meanwhile wait for the load.
    const { threads, note } = clampThreads(params.threads, availableParallelism(), 'load.threads');
    if (note) this.log(`warning: ${note}`);
    // Each request waits only for what arrived before it, so no two can wait for each other: the load waits for the
    // decode running when it arrived (read now, not after loading: a completion that arrives during the load waits
    // for the load, and waiting for it here was a deadlock), and for the load before it.
    const previous = this.loading;
    const runningAtArrival = this.running;
    const loading = (async () => {
      await previous.catch(() => undefined);
      let next: LoadedModel | RemoteModel;
      try {
        next = params.server
          ? await connectRemote({ url: params.server.url, ...(params.server.token ? { token: params.server.token } : {}) })
          : await this.load(params.modelDir, { executionProvider: params.executionProvider, threads });
      } catch (e) {
        this.log(`load failed: ${(e as Error).message}`);
        throw new UnmaskError(ErrorCodes.modelLoad, (e as Error).message);
      }
      for (const warning of next.warnings) this.log(`warning: ${warning}`);
      // the old model goes only once the new one is whole, and the decode that was running on it has finished
      await runningAtArrival?.done.catch(() => undefined);
      const old = this.model;
      this.model = next;
      await old?.dispose().catch(() => undefined);
      this.log(`loaded ${next.info.name} from ${next.info.modelDir} on ${next.info.executionProvider} (${next.info.threads} threads, ${next.info.loadMs} ms)`);
      return next.info;
    })();
    this.loading = loading;
    return loading;
  }

  private async onComplete(params: CompleteParams, token: CancellationToken): Promise<Trace> {
    this.counts.requests++;
    try {
      checkCompleteRequest(params?.request);
    } catch (e) {
      throw new UnmaskError(ErrorCodes.invalidRequest, (e as Error).message);
    }
    const { id, request, streamSteps } = params;
    const previous = this.running;
    const loadingAtArrival = this.loading; // read now: a load that arrives later waits for this decode (onLoad)
    previous?.controller.abort(); // superseded: it stops before its next forward
    const controller = new AbortController();
    if (token.isCancellationRequested) controller.abort();
    token.onCancellationRequested(() => controller.abort());
    let started = false;
    const run = (async () => {
      await previous?.done.catch(() => undefined);
      await loadingAtArrival.catch(() => undefined);
      if (controller.signal.aborted) throw new CancelledError();
      const model = this.model;
      if (!model) throw new UnmaskError(ErrorCodes.noModel, 'no model is loaded');
      const denoiser = this.gated(model.denoiser, controller.signal, () => {
        if (!started) this.counts.decodesStarted++;
        started = true;
      });
      return decode({ ...model, denoiser }, request, {
        signal: controller.signal,
        onStep: streamSteps ? (step, index) => void this.connection.sendNotification(Notifications.step, { id, index, step }) : undefined,
      });
    })();
    const running: Running = { id, controller, done: run };
    this.running = running;
    try {
      return await run;
    } catch (e) {
      if (e instanceof CancelledError) {
        if (!started) this.counts.cancelledBeforeStart++;
        throw new CancelledError('Cancelled');
      }
      if (!(e instanceof UnmaskError)) this.log(`decode ${id} failed: ${(e as Error).stack ?? e}`);
      throw e;
    } finally {
      if (this.running === running) this.running = undefined;
    }
  }

  /**
   * Before each forward: let every queued message in (a cancel, a newer request that supersedes this
   * one), then run the forward only if this decode is still wanted.
   */
  private gated(denoiser: Denoiser, signal: AbortSignal, onForward: () => void): Denoiser {
    return {
      forward: async (canvas, positions) => {
        await this.drain();
        if (signal.aborted) throw new CancelledError();
        onForward();
        this.counts.forwards++;
        return denoiser.forward(canvas, positions, signal);
      },
      ...(denoiser.beginBlock ? { beginBlock: (start: number, end: number) => denoiser.beginBlock!(start, end) } : {}),
    };
  }
}
