// The model server as one object for the extension, the CLI and tests (no vscode import): serverProcess.ts supervises
// the process (fork, deadlines, liveness, restarts), requestScheduler.ts decides which completion runs (latest wins
// per channel).
import type { CompleteRequest, ExecutionProviderSetting, ModelInfo, ServerStats, Trace, TraceStep } from '../protocol';
import { RequestScheduler, type CompleteOptions } from './requestScheduler';
import { ServerProcess, type ClientState, type ServerProcessOptions } from './serverProcess';

export type { ClientState, CompleteOptions };
export type ModelClientOptions = ServerProcessOptions;

export class ModelClient {
  private readonly server: ServerProcess;
  private readonly scheduler: RequestScheduler;

  constructor(options: ModelClientOptions) {
    this.server = new ServerProcess(options);
    this.scheduler = new RequestScheduler(this.server);
  }

  get modelInfo(): ModelInfo | undefined {
    return this.server.modelInfo;
  }

  /** The server's process id, while it runs. */
  get pid(): number | undefined {
    return this.server.pid;
  }

  onDidChangeState(listener: (state: ClientState, detail?: string) => void): { dispose(): void } {
    return this.server.onDidChangeState(listener);
  }

  /**
   * Loads a model folder in the server (starting it if needed). Rejects with the folder's problem; the
   * model loaded before, if any, stays in use.
   */
  load(options: {
    modelDir: string;
    executionProvider: ExecutionProviderSetting;
    threads: number;
    server?: { url: string; token?: string };
  }): Promise<ModelInfo> {
    this.assertAlive();
    return this.server.load({
      modelDir: options.modelDir,
      executionProvider: options.executionProvider,
      threads: options.threads,
      ...(options.server ? { server: options.server } : {}),
    });
  }

  /**
   * Completes with the loaded model. A newer call on the same channel, or `signal`, settles this one with
   * a CancelledError; so does dispose().
   */
  complete(request: CompleteRequest, signal?: AbortSignal, onStep?: (step: TraceStep) => void, options: CompleteOptions = {}): Promise<Trace> {
    this.assertAlive();
    return this.scheduler.complete(request, signal, onStep, options);
  }

  /** The server's counters (forwards run, decodes started, memory); starts nothing. */
  serverStats(): Promise<ServerStats | undefined> {
    return this.server.serverStats();
  }

  dispose(): void {
    this.scheduler.dispose();
    this.server.dispose();
  }

  private assertAlive(): void {
    if (this.server.isDisposed) throw new Error('the model client was disposed');
  }
}
