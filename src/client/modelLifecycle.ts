// The one owner of the model's lifecycle: a state machine over the ModelClient, below the editor
// (no vscode import, unit-tested on Node).
//
//   loading ──ok──▶ ready(info) ──load fails──▶ ready(last good info, problem)   the server keeps it too
//      │                 │
//      └─fails, no model─┴─server gave up──▶ failed(reason) ──back-off elapsed, on demand──▶ loading
//
// A crash restart of the server is followed (crashed: loading; restored: ready), each distinct state is
// reported once, and a failed state is retried on a back-off when a caller asks for the model, never per request.
// A load that is no longer wanted (a newer load() came while its folder was being pre-checked) asks the server for
// nothing; a load during which the server crashed is tried once more, and then reported naming its folder, also
// after the client restored the old model.
import type { ClientState, ModelClient } from './modelClient';
import { ErrorCodes, hasErrorCode, type ExecutionProviderSetting, type ModelInfo } from '../protocol';

export interface LoadTarget {
  modelDir: string;
  executionProvider: ExecutionProviderSetting;
  threads: number;
  /** The team server instead of the folder's graph (unmask.serverUrl). */
  server?: { url: string; token?: string };
}

export type LifecycleState =
  | { kind: 'loading'; folder: string }
  /** `problem`: the last load failed and this, the last good model, stayed in use. */
  | { kind: 'ready'; info: ModelInfo; problem?: string }
  | { kind: 'failed'; folder: string; reason: string };

export interface LifecycleOptions {
  /** A quick check of the folder before the server is asked (the extension's checkModelFolderAsync). */
  precheck?: (folder: string) => Promise<string | undefined>;
  /** Waits before another try after successive failures (the last one repeats). */
  retryDelaysMs?: number[];
  now?: () => number;
}

type ClientLike = Pick<ModelClient, 'load' | 'onDidChangeState' | 'modelInfo'>;

export class ModelLifecycle {
  private current: LifecycleState;
  private target?: LoadTarget;
  private loaded: Promise<ModelInfo | undefined> = Promise.resolve(undefined);
  private ownLoads = 0;
  private failures = 0;
  private retryAt = 0;
  /** Why the wanted folder is not the one in use (a failed load kept the last good model); kept across crash restarts. */
  private problem?: string;
  private readonly listeners = new Set<(state: LifecycleState) => void>();
  private readonly subscription: { dispose(): void };
  private readonly retryDelays: number[];
  private readonly now: () => number;
  /** How many loads this lifecycle has asked the client for (tests count retries with it). */
  loadsRequested = 0;

  constructor(
    private readonly client: ClientLike,
    private readonly options: LifecycleOptions = {},
  ) {
    this.current = { kind: 'loading', folder: '' };
    this.retryDelays = options.retryDelaysMs ?? [2_000, 10_000, 30_000, 60_000, 300_000];
    this.now = options.now ?? (() => Date.now());
    this.subscription = client.onDidChangeState((state, detail) => this.follow(state, detail));
  }

  get state(): LifecycleState {
    return this.current;
  }

  /** The model in use, if any. */
  get info(): ModelInfo | undefined {
    return this.current.kind === 'ready' ? this.current.info : undefined;
  }

  onDidChange(listener: (state: LifecycleState) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  /** Loads `target` (the settings changed, or the first load): the back-off starts over. */
  load(target: LoadTarget): Promise<ModelInfo | undefined> {
    this.target = target;
    this.failures = 0;
    this.retryAt = 0;
    this.problem = undefined;
    return this.attempt(target);
  }

  /**
   * The model in use, waiting for a load in progress. While failed, a new try is made only once the
   * back-off has passed; otherwise it answers undefined at once.
   */
  async ready(): Promise<ModelInfo | undefined> {
    if (this.current.kind === 'failed' && this.target && this.now() >= this.retryAt) return this.attempt(this.target);
    if (this.current.kind === 'loading') return this.loaded;
    return this.info;
  }

  dispose(): void {
    this.subscription.dispose();
    this.listeners.clear();
  }

  private attempt(target: LoadTarget): Promise<ModelInfo | undefined> {
    const previous = this.info;
    this.set({ kind: 'loading', folder: target.modelDir });
    this.ownLoads++;
    const loaded = (async (): Promise<ModelInfo | undefined> => {
      try {
        const problem = await this.options.precheck?.(target.modelDir);
        // a newer load() came during the pre-check: this folder is no longer wanted, and the server never hears of it
        if (this.target !== target) return this.loaded;
        if (problem) throw new Error(problem);
        const info = await this.loadOnce(target);
        this.failures = 0;
        if (this.target === target) {
          this.problem = undefined;
          this.set({ kind: 'ready', info });
        }
        return info;
      } catch (e) {
        const reason = e instanceof Error ? e.message : String(e);
        if (this.target !== target) return this.info; // a newer load took over
        const inUse = this.client.modelInfo ?? previous;
        if (inUse) {
          this.problem = reason;
          this.set({ kind: 'ready', info: inUse, problem: reason });
          return inUse;
        }
        this.failures++;
        this.retryAt = this.now() + this.retryDelays[Math.min(this.failures, this.retryDelays.length) - 1];
        this.set({ kind: 'failed', folder: target.modelDir, reason });
        return undefined;
      } finally {
        this.ownLoads--;
      }
    })();
    this.loaded = loaded;
    return loaded;
  }

  /**
   * Asks the client to load `target`; when the server crashes (or hangs and is killed) during the load, once more:
   * the crash may not be the folder's. A second crash fails naming the folder.
   */
  private async loadOnce(target: LoadTarget): Promise<ModelInfo> {
    for (let attempt = 1; ; attempt++) {
      this.loadsRequested++;
      try {
        return await this.client.load(target);
      } catch (e) {
        const crashed = hasErrorCode(e, ErrorCodes.serverCrashed, ErrorCodes.serverHung);
        if (!crashed || this.target !== target) throw e;
        if (attempt >= 2) throw new Error(`loading ${target.modelDir} failed twice, the model server stopping each time (${e.message})`, { cause: e });
      }
    }
  }

  /** The client's own events: a crash restart, or giving up. Its events during our loads are ours already. */
  private follow(state: ClientState, detail?: string): void {
    if (this.ownLoads > 0) return;
    const folder = this.target?.modelDir ?? '';
    if (state === 'crashed' || state === 'starting') {
      if (this.current.kind === 'ready') this.set({ kind: 'loading', folder });
      this.loaded = new Promise((resolve) => {
        const sub = this.onDidChange((s) => {
          if (s.kind === 'loading') return;
          sub.dispose();
          resolve(s.kind === 'ready' ? s.info : undefined);
        });
      });
    } else if (state === 'ready' && this.client.modelInfo) {
      // the client restored the last good model: the wanted folder is still not loaded if a load of it failed
      const info = this.client.modelInfo;
      const problem = this.problem !== undefined && info.modelDir !== this.target?.modelDir ? this.problem : undefined;
      this.set({ kind: 'ready', info, ...(problem !== undefined ? { problem } : {}) });
    } else if (state === 'failed') {
      this.failures++;
      this.retryAt = this.now() + this.retryDelays[Math.min(this.failures, this.retryDelays.length) - 1];
      this.set({ kind: 'failed', folder, reason: detail ?? 'the model server failed' });
    }
  }

  private set(state: LifecycleState): void {
    if (sameState(this.current, state)) return;
    this.current = state;
    for (const l of this.listeners) l(state);
  }
}

function sameState(a: LifecycleState, b: LifecycleState): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'ready' && b.kind === 'ready') return a.info.modelDir === b.info.modelDir && a.info.name === b.info.name && a.problem === b.problem;
  if (a.kind === 'failed' && b.kind === 'failed') return a.folder === b.folder && a.reason === b.reason;
  return a.kind === 'loading' && b.kind === 'loading' && a.folder === b.folder;
}
