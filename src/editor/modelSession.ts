// The model server as the editor sees it: the lifecycle (src/client/modelLifecycle.ts: loading, ready with the
// last good model, failed with a back-off) shown in the editor, each state reported once, and decoding with a
// busy count the status bar turns into a spinner.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ModelClient } from '../client/modelClient';
import { ModelLifecycle, type LifecycleState } from '../client/modelLifecycle';
import type { Config } from './config';
import type { Log } from './log';
import { checkModelFolderAsync, expandHome } from '../modelFolder';
import type { CompleteRequest, ModelInfo, Trace } from '../protocol';
import type { Settings } from '../settings';
import { modelFolderNextStep } from '../hub/nextStep';

export type ModelState = LifecycleState;

/** Who asks: inline completions supersede each other; Fill Selection and Compare have their own channels. */
export type RequestChannel = 'inline' | 'fill' | 'compare';

export class ModelSession implements vscode.Disposable {
  private readonly client: ModelClient;
  private readonly lifecycle: ModelLifecycle;
  private readonly stateChanged = new vscode.EventEmitter<void>();
  /** Fires when the state or the busy count changes. */
  readonly onDidChange = this.stateChanged.event;
  private busyCount = 0;
  private readonly subscriptions: { dispose(): void }[] = [];

  constructor(
    private readonly extensionPath: string,
    private readonly config: Config,
    private readonly log: Log,
    private readonly serverToken?: () => Thenable<string | undefined>,
  ) {
    this.client = new ModelClient({
      serverModule: path.join(extensionPath, 'dist', 'server.js'),
      log: (level, message) => log.write(level, `server: ${message}`),
    });
    this.lifecycle = new ModelLifecycle(this.client, { precheck: (folder) => checkModelFolderAsync(folder) });
    this.subscriptions.push(this.lifecycle.onDidChange((state) => this.report(state)));
    this.subscriptions.push(
      config.onDidChange(({ previous, current }) => {
        if (
          this.folderFor(previous) !== this.folderFor(current) ||
          previous.executionProvider !== current.executionProvider ||
          previous.threads !== current.threads
        )
          void this.load();
      }),
    );
  }

  get state(): ModelState {
    return this.lifecycle.state;
  }
  get busy(): boolean {
    return this.busyCount > 0;
  }
  get info(): ModelInfo | undefined {
    return this.lifecycle.info;
  }

  /** The folder the settings point at: `unmask.modelFolder`, or the bundled default model. */
  folderFor(settings: Settings): string {
    return settings.modelFolder ? path.resolve(expandHome(settings.modelFolder)) : path.join(this.extensionPath, 'models', 'default');
  }

  /**
   * Loads the model the settings name. A folder that fails is refused with an error that names
   * `unmask.modelFolder`, and the model already loaded stays in use.
   */
  load(): Promise<ModelInfo | undefined> {
    const settings = this.config.current;
    const target = { modelDir: this.folderFor(settings), executionProvider: settings.executionProvider, threads: settings.threads };
    if (!settings.serverUrl) return this.lifecycle.load(target);
    // the team server (unmask.serverUrl) with the token from secret storage; the forked process talks to it
    return Promise.resolve(this.serverToken?.()).then((token) =>
      this.lifecycle.load({ ...target, server: { url: settings.serverUrl, ...(token ? { token } : {}) } }),
    );
  }

  /** The model in use, waiting for a load in progress; while failed, a new try only after the back-off. */
  ready(): Promise<ModelInfo | undefined> {
    return this.lifecycle.ready();
  }

  /**
   * Decodes; rejects with an error named 'Cancelled' when `signal` aborts or a newer request of the same
   * channel supersedes it.
   */
  async complete(request: CompleteRequest, signal: AbortSignal, channel: RequestChannel = 'inline'): Promise<Trace> {
    this.busyCount++;
    this.stateChanged.fire();
    try {
      return await this.client.complete(request, signal, undefined, { channel });
    } finally {
      this.busyCount--;
      this.stateChanged.fire();
    }
  }

  /** Each state once: a log line, and an error message for a failure (not per keystroke: the lifecycle dedups). */
  private report(state: ModelState): void {
    this.stateChanged.fire();
    const setting = this.config.current.modelFolder ? 'unmask.modelFolder' : 'the bundled model (unmask.modelFolder is empty)';
    if (state.kind === 'loading') this.log.info(`model: loading ${state.folder}`);
    else if (state.kind === 'ready' && !state.problem) {
      this.log.info(
        `model: ready, ${state.info.name} (${state.info.executionProvider}, ${state.info.threads} threads)` +
          (state.info.fallbackReason ? `; fell back to CPU: ${state.info.fallbackReason}` : ''),
      );
    } else {
      const message =
        state.kind === 'ready'
          ? `Unmask: cannot use the model folder from ${setting}: ${state.problem}. Still using ${state.info.name}.`
          : `Unmask: could not load the model from ${setting}: ${state.reason}${nextStep(this.config.current.modelFolder ? this.folderFor(this.config.current) : '')}. Unmask retries later, or choose another folder.`;
      this.log.error(message);
      void vscode.window.showErrorMessage(message, 'Choose Model Folder').then((choice) => {
        if (choice) void vscode.commands.executeCommand('unmask.chooseModelFolder');
      });
    }
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    this.lifecycle.dispose();
    this.client.dispose();
    this.stateChanged.dispose();
  }
}

/** "; what to do" for a model folder that failed to load (src/hub/nextStep.ts), or nothing. */
function nextStep(folder: string): string {
  const next = folder ? modelFolderNextStep(folder, 'editor') : undefined;
  return next ? `; ${next}` : '';
}

export function isCancelled(error: unknown): boolean {
  return error instanceof Error && error.name === 'Cancelled';
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
