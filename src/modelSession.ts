// The model server as the editor sees it: which model is loaded, loading another (validated first, the old one
// kept on failure), and decoding with a busy count the status bar turns into a spinner.
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ModelClient } from './client/modelClient';
import type { Config } from './config';
import type { Log } from './log';
import { checkModelFolder, expandHome } from './modelFolder';
import type { CompleteRequest, ModelInfo, Trace } from './protocol';
import { effectiveThreads, type Settings } from './settings';

export type ModelState =
  | { kind: 'loading'; folder: string }
  | { kind: 'ready'; info: ModelInfo }
  | { kind: 'failed'; folder: string; reason: string };

export class ModelSession implements vscode.Disposable {
  private readonly client: ModelClient;
  private readonly stateChanged = new vscode.EventEmitter<void>();
  /** Fires when the state or the busy count changes. */
  readonly onDidChange = this.stateChanged.event;
  private current: ModelState;
  private loaded: Promise<ModelInfo | undefined> = Promise.resolve(undefined);
  private busyCount = 0;
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(
    private readonly extensionPath: string,
    private readonly config: Config,
    private readonly log: Log,
  ) {
    this.current = { kind: 'loading', folder: this.folderFor(config.current) };
    this.client = new ModelClient({
      serverModule: path.join(extensionPath, 'dist', 'server.js'),
      log: (level, message) => log.write(level, `server: ${message}`),
    });
    this.subscriptions.push(this.client.onDidChangeState((state, detail) => {
      log.info(`model server ${state}${detail ? `: ${detail}` : ''}`);
      // After a crash the client restarts the server, which comes back without a model: load it again.
      if (state === 'crashed' || state === 'failed') this.setState({ kind: 'failed', folder: this.folderFor(config.current), reason: `the model server ${state}${detail ? `: ${detail}` : ''}` });
    }));
    this.subscriptions.push(config.onDidChange(({ previous, current }) => {
      if (this.folderFor(previous) !== this.folderFor(current) || previous.executionProvider !== current.executionProvider
        || previous.threads !== current.threads) void this.load();
    }));
  }

  get state(): ModelState { return this.current; }
  get busy(): boolean { return this.busyCount > 0; }
  get info(): ModelInfo | undefined { return this.current.kind === 'ready' ? this.current.info : undefined; }

  /** The folder the settings point at: `unmask.modelFolder`, or the bundled default model. */
  folderFor(settings: Settings): string {
    return settings.modelFolder ? path.resolve(expandHome(settings.modelFolder)) : path.join(this.extensionPath, 'models', 'default');
  }

  /**
   * Loads the model the settings name. A folder that fails the check is refused with an error that names
   * `unmask.modelFolder`, and the model already loaded stays in use.
   */
  load(): Promise<ModelInfo | undefined> {
    const settings = this.config.current;
    const folder = this.folderFor(settings);
    const previous = this.info;
    const problem = checkModelFolder(folder);
    if (problem) {
      const setting = settings.modelFolder ? 'unmask.modelFolder' : 'the bundled model (unmask.modelFolder is empty)';
      const message = `Unmask: cannot use the model folder from ${setting}: ${problem}.`
        + (previous ? ` Still using ${previous.name}.` : '');
      this.log.error(message);
      void vscode.window.showErrorMessage(message, 'Choose Model Folder').then((choice) => {
        if (choice) void vscode.commands.executeCommand('unmask.chooseModelFolder');
      });
      if (!previous) this.setState({ kind: 'failed', folder, reason: problem });
      return this.loaded;
    }
    this.setState({ kind: 'loading', folder });
    this.log.info(`loading the model from ${folder}`);
    const started = Date.now();
    this.loaded = this.client
      .load({ modelDir: folder, executionProvider: settings.executionProvider, threads: effectiveThreads(settings.threads, os.cpus().length) })
      .then((info) => {
        this.log.info(`loaded ${info.name} (${info.executionProvider}, ${info.threads} threads) in ${Date.now() - started} ms`
          + (info.fallbackReason ? `; fell back to CPU: ${info.fallbackReason}` : ''));
        this.setState({ kind: 'ready', info });
        return info;
      }, (error: unknown) => {
        const reason = errorMessage(error);
        this.log.error(`loading the model from ${folder} failed: ${reason}`);
        void vscode.window.showErrorMessage(`Unmask: could not load the model from ${folder}: ${reason}`);
        this.setState({ kind: 'failed', folder, reason });
        return undefined;
      });
    return this.loaded;
  }

  /** The loaded model, waiting for a load in progress; after a failure or crash, one new try. */
  async ready(): Promise<ModelInfo | undefined> {
    if (this.current.kind === 'failed' && checkModelFolder(this.current.folder) === undefined) return this.load();
    return this.loaded;
  }

  /** Decodes; rejects with an error named 'Cancelled' when `signal` aborts or a newer request supersedes it. */
  async complete(request: CompleteRequest, signal: AbortSignal): Promise<Trace> {
    this.busyCount++;
    this.stateChanged.fire();
    try {
      return await this.client.complete(request, signal);
    } finally {
      this.busyCount--;
      this.stateChanged.fire();
    }
  }

  private setState(state: ModelState): void {
    this.current = state;
    this.stateChanged.fire();
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    this.client.dispose();
    this.stateChanged.dispose();
  }
}

export function isCancelled(error: unknown): boolean {
  return error instanceof Error && error.name === 'Cancelled';
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
