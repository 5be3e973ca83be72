// The model server's request handling (design §1): load a model folder, run one decode at a time,
// stream a step notification per denoising step; a newer complete supersedes the running one at
// its next step boundary. Transport-agnostic: main.ts wires it to the parent's IPC channel.
import { ResponseError, type CancellationToken, type MessageConnection } from 'vscode-jsonrpc/node';
import { CancelledError, decode, type Denoiser } from '../engine';
import { loadModel, type LoadedModel } from '../model';
import { ErrorCodes, Methods, type CancelParams, type CompleteParams, type LoadRequest, type ModelInfo, type StepParams, type Trace } from '../protocol';

interface Running {
  id: number;
  controller: AbortController;
  done: Promise<unknown>;
}

export class ModelServer {
  private model?: LoadedModel;
  private running?: Running;
  private loading: Promise<unknown> = Promise.resolve();

  constructor(private readonly connection: MessageConnection, private readonly log: (msg: string) => void = () => undefined,
    private readonly load: typeof loadModel = loadModel) {
    connection.onRequest(Methods.load, (params: LoadRequest) => this.onLoad(params));
    connection.onRequest(Methods.complete, (params: CompleteParams, token: CancellationToken) => this.onComplete(params, token));
    connection.onNotification(Methods.cancel, (params: CancelParams) => {
      if (this.running?.id === params.id) this.running.controller.abort();
    });
  }

  async dispose(): Promise<void> {
    this.running?.controller.abort();
    await this.model?.dispose();
    this.model = undefined;
  }

  private async onLoad(params: LoadRequest): Promise<ModelInfo> {
    this.running?.controller.abort();
    const previous = this.loading;
    const loading = (async () => {
      await previous.catch(() => undefined);
      let next: LoadedModel;
      try {
        next = await this.load(params.modelDir, { executionProvider: params.executionProvider, threads: params.threads });
      } catch (e) {
        this.log(`load failed: ${(e as Error).message}`);
        throw new ResponseError(ErrorCodes.modelLoad, (e as Error).message);
      }
      // the old model goes only once the new one is whole
      await this.running?.done.catch(() => undefined);
      const old = this.model;
      this.model = next;
      await old?.dispose().catch(() => undefined);
      this.log(`loaded ${next.info.name} from ${next.info.modelDir} on ${next.info.executionProvider} (${next.info.threads} threads, ${next.info.loadMs} ms)`);
      return next.info;
    })();
    this.loading = loading;
    return loading;
  }

  private async onComplete({ id, request, streamSteps }: CompleteParams, token: CancellationToken): Promise<Trace> {
    const previous = this.running;
    previous?.controller.abort(); // superseded: it stops at its next step boundary
    const controller = new AbortController();
    token.onCancellationRequested(() => controller.abort());
    const run = (async () => {
      await previous?.done.catch(() => undefined);
      await this.loading.catch(() => undefined);
      if (controller.signal.aborted) throw new CancelledError();
      const model = this.model;
      if (!model) throw new ResponseError(ErrorCodes.noModel, 'no model is loaded');
      return decode({ ...model, denoiser: yielding(model.denoiser) }, request, {
        signal: controller.signal,
        onStep: streamSteps ? (step, index) => void this.connection.sendNotification(Methods.step, { id, index, step } satisfies StepParams) : undefined,
      });
    })();
    const running: Running = { id, controller, done: run };
    this.running = running;
    try {
      return await run;
    } catch (e) {
      if (e instanceof ResponseError) throw e;
      if (e instanceof CancelledError) throw new ResponseError(ErrorCodes.cancelled, 'Cancelled');
      this.log(`decode ${id} failed: ${(e as Error).stack ?? e}`);
      throw new ResponseError(ErrorCodes.decode, `decoding failed: ${(e as Error).message}`);
    } finally {
      if (this.running === running) this.running = undefined;
    }
  }
}

/** Lets queued messages (a cancel, a newer request) in between two forwards. */
function yielding(denoiser: Denoiser): Denoiser {
  return {
    forward: async (canvas, positions) => {
      await new Promise((resolve) => setImmediate(resolve));
      return denoiser.forward(canvas, positions);
    },
  };
}
