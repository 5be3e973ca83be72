// Forks the model server and talks to it (design §1). No vscode import: the extension, the CLI
// and tests share it. A crashed server is restarted with back-off and gets the last good model
// again; a model that fails to load is reported once and not retried.
import { fork, type ChildProcess } from 'node:child_process';
import { createMessageConnection, IPCMessageReader, IPCMessageWriter, ResponseError, type MessageConnection } from 'vscode-jsonrpc/node';
import { CancelledError } from '../engine/types';
import {
  ErrorCodes, Methods, type CompleteParams, type CompleteRequest, type ExecutionProviderSetting, type LoadRequest,
  type ModelInfo, type StepParams, type Trace, type TraceStep,
} from '../protocol';

export type ClientState = 'starting' | 'ready' | 'crashed' | 'failed';
export type LogLevel = 'error' | 'info' | 'debug';

export interface ModelClientOptions {
  /** The server entry: dist/server.js (or src/server/main.ts with execArgv ['--import', 'tsx']). */
  serverModule: string;
  log?: (level: LogLevel, msg: string) => void;
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
  /** Restart delays after successive crashes; one more crash than there are delays gives up. */
  restartDelaysMs?: number[];
}

interface InFlight {
  id: number;
  onStep?: (step: TraceStep) => void;
  reject: (e: Error) => void;
}

export class ModelClient {
  private child?: ChildProcess;
  private connection?: MessageConnection;
  private nextId = 1;
  private readonly inFlight = new Map<number, InFlight>();
  private loads = new Set<(e: Error) => void>();
  private lastGoodLoad?: LoadRequest;
  private info?: ModelInfo;
  /** The restart (and re-load) under way after a crash; requests wait for it. */
  private restoring?: Promise<void>;
  private crashes = 0;
  /** Why requests cannot be served until the next load(): gave up restarting, or the model no longer loads. */
  private fatal?: Error;
  private disposed = false;
  private readonly listeners = new Set<(state: ClientState, detail?: string) => void>();
  private readonly restartDelays: number[];

  constructor(private readonly options: ModelClientOptions) {
    this.restartDelays = options.restartDelaysMs ?? [250, 1000, 4000, 10000, 30000];
  }

  get modelInfo(): ModelInfo | undefined {
    return this.info;
  }

  /** The server's process id, while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  onDidChangeState(listener: (state: ClientState, detail?: string) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  /** Loads a model folder in the server (starting it if needed). Rejects with the folder's problem, once. */
  async load(options: { modelDir: string; executionProvider: ExecutionProviderSetting; threads: number }): Promise<ModelInfo> {
    this.assertAlive();
    this.crashes = 0;
    this.fatal = undefined;
    await this.restoring?.catch(() => undefined);
    const params: LoadRequest = { modelDir: options.modelDir, executionProvider: options.executionProvider, threads: options.threads };
    try {
      const info = await this.sendLoad(params);
      this.lastGoodLoad = params;
      this.info = info;
      this.emit('ready', `${info.name} on ${info.executionProvider}`);
      return info;
    } catch (e) {
      const error = asError(e);
      if (error.name === 'ModelLoadError') {
        this.lastGoodLoad = undefined;
        this.info = undefined;
        this.fatal = error;
        this.emit('failed', error.message);
      }
      throw error;
    }
  }

  /**
   * Completes with the loaded model. A newer call, or `signal`, settles this one with an error
   * named 'Cancelled'; so does dispose().
   */
  async complete(request: CompleteRequest, signal?: AbortSignal, onStep?: (step: TraceStep) => void): Promise<Trace> {
    this.assertAlive();
    if (signal?.aborted) throw new CancelledError();
    const id = this.nextId++;
    // latest wins: the older request settles now, the server stops it at its next step boundary
    for (const old of this.inFlight.values()) old.reject(new CancelledError('superseded by a newer completion'));

    return new Promise<Trace>((resolve, reject) => {
      let settled = false;
      const entry: InFlight = {
        id, onStep,
        reject: (e) => {
          if (settled) return;
          settled = true;
          cleanup();
          if (e instanceof CancelledError) void this.connection?.sendNotification(Methods.cancel, { id }).catch(() => undefined);
          reject(e);
        },
      };
      const onAbort = () => entry.reject(new CancelledError());
      const cleanup = () => {
        this.inFlight.delete(id);
        signal?.removeEventListener('abort', onAbort);
      };
      this.inFlight.set(id, entry);
      signal?.addEventListener('abort', onAbort, { once: true });

      void (async () => {
        await this.restoring?.catch(() => undefined);
        if (settled) return;
        if (this.fatal) throw this.fatal;
        if (!this.lastGoodLoad) throw new Error('no model is loaded');
        const connection = this.ensureStarted();
        const params: CompleteParams = { id, request, streamSteps: !!onStep };
        const trace = await connection.sendRequest<Trace>(Methods.complete, params);
        this.crashes = 0;
        return trace;
      })().then(
        (trace) => {
          if (settled || !trace) return;
          settled = true;
          cleanup();
          resolve(trace);
        },
        (e) => entry.reject(asError(e)),
      );
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const f of this.inFlight.values()) f.reject(new CancelledError('the model client was disposed'));
    for (const reject of this.loads) reject(new CancelledError('the model client was disposed'));
    this.listeners.clear();
    this.connection?.dispose();
    this.child?.kill();
    this.child = undefined;
    this.connection = undefined;
  }

  private sendLoad(params: LoadRequest): Promise<ModelInfo> {
    const connection = this.ensureStarted();
    return new Promise<ModelInfo>((resolve, reject) => {
      const fail = (e: Error) => {
        this.loads.delete(fail);
        reject(e);
      };
      this.loads.add(fail);
      connection.sendRequest<ModelInfo>(Methods.load, params).then((info) => {
        this.loads.delete(fail);
        resolve(info);
      }, (e) => fail(asError(e)));
    });
  }

  private ensureStarted(): MessageConnection {
    if (this.connection) return this.connection;
    this.emit('starting');
    const child = fork(this.options.serverModule, [], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      execArgv: this.options.execArgv ?? [],
      env: this.options.env ?? process.env,
    });
    const connection = createMessageConnection(new IPCMessageReader(child), new IPCMessageWriter(child));
    connection.onNotification(Methods.step, (p: StepParams) => this.inFlight.get(p.id)?.onStep?.(p.step));
    forwardLines(child.stderr, (line) => this.log(/failed|uncaught|error/i.test(line) ? 'error' : 'debug', line));
    forwardLines(child.stdout, (line) => this.log('debug', line));
    child.on('error', (e) => this.log('error', `model server: ${e.message}`));
    child.once('exit', (code, signal) => this.onExit(child, code, signal));
    connection.listen();
    this.child = child;
    this.connection = connection;
    this.log('info', `model server started (pid ${child.pid})`);
    return connection;
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== this.child) return;
    this.connection?.dispose();
    this.child = undefined;
    this.connection = undefined;
    if (this.disposed) return;
    const why = `the model server crashed (${signal ? `killed by ${signal}` : `exit code ${code}`})`;
    this.log('error', why);
    const error = new Error(why);
    error.name = 'ServerCrashed';
    for (const f of this.inFlight.values()) f.reject(error);
    for (const reject of this.loads) reject(error);
    this.emit('crashed', why);
    this.crashes++;
    if (this.crashes > this.restartDelays.length) {
      this.fatal = new Error(`${why}; gave up after ${this.crashes} crashes in a row (load a model to try again)`);
      this.emit('failed', this.fatal.message);
      return;
    }
    const delay = this.restartDelays[this.crashes - 1];
    const restoring = (this.restoring = (async () => {
      await new Promise((r) => setTimeout(r, delay));
      if (this.disposed) return;
      if (!this.lastGoodLoad) return; // nothing to restore: the next load() starts it
      const params = this.lastGoodLoad;
      try {
        this.info = await this.sendLoad(params);
        this.emit('ready', `restarted after: ${why}`);
      } catch (e) {
        const error = asError(e);
        if (error.name === 'ModelLoadError') {
          this.lastGoodLoad = undefined;
          this.fatal = error;
          this.emit('failed', error.message);
        }
        throw error;
      }
    })());
    restoring.catch(() => undefined).finally(() => {
      if (this.restoring === restoring) this.restoring = undefined;
    });
  }

  private emit(state: ClientState, detail?: string): void {
    this.log(state === 'failed' || state === 'crashed' ? 'error' : 'info', `model server ${state}${detail ? `: ${detail}` : ''}`);
    for (const l of this.listeners) l(state, detail);
  }

  private log(level: LogLevel, msg: string): void {
    this.options.log?.(level, msg);
  }

  private assertAlive(): void {
    if (this.disposed) throw new Error('the model client was disposed');
  }
}

/** Response errors of the protocol as errors with names a caller can test. */
function asError(e: unknown): Error {
  if (e instanceof ResponseError) {
    if (e.code === ErrorCodes.cancelled) return new CancelledError();
    const error = new Error(e.message);
    error.name = e.code === ErrorCodes.modelLoad ? 'ModelLoadError' : e.code === ErrorCodes.noModel ? 'NoModel' : 'DecodeError';
    return error;
  }
  return e instanceof Error ? e : new Error(String(e));
}

function forwardLines(stream: NodeJS.ReadableStream | null, each: (line: string) => void): void {
  if (!stream) return;
  let buffer = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffer += chunk;
    const lines = buffer.split('\n');
    buffer = lines.pop()!;
    for (const line of lines) if (line.trim()) each(line);
  });
}
