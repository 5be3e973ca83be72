// Forks the model server and talks to it (docs/architecture.md, "Parts"). No vscode import: the extension, the CLI and tests
// share it.
//
// * One decode at a time, per caller: each request names a channel (default 'inline'); a newer request
//   supersedes the older one of its channel only — the queued one is dropped unsent, the running one is
//   cancelled through the library's $/cancelRequest and stops before its next forward. The server gets at
//   most one request at a time, and the client holds at most one waiting request per channel. A request that
//   superseded another is sent only after its channel has been quiet for stormQuietMs: in a storm of requests
//   (debounceMs 0, a held-down key) nothing new starts until the storm ends, and then only the last one does.
// * Deadlines and liveness: every load and completion has a deadline, and while one is outstanding the
//   server is asked for its stats (answered between two forwards); a server that misses either is killed
//   and restarted, and the request fails with a message that says so.
// * A crashed server is restarted with back-off and gets the last good model again. A model folder that
//   fails to load leaves the last good model in use (the server keeps it too).
import { fork, type ChildProcess } from 'node:child_process';
import {
  CancellationTokenSource, createMessageConnection, IPCMessageReader, IPCMessageWriter, ResponseError, type MessageConnection,
} from 'vscode-jsonrpc/node';
import { checkLoadRequest } from '../engine/bounds';
import { CancelledError } from '../engine/types';
import {
  ErrorCodes, Methods, type CompleteParams, type CompleteRequest, type ExecutionProviderSetting, type LoadRequest,
  type ModelInfo, type ServerStats, type StepParams, type Trace, type TraceStep,
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
  /** Deadline of a load, from sending it to its answer (default 60 s). */
  loadTimeoutMs?: number;
  /** Deadline of a completion, from sending it to the server to its answer (default 60 s). */
  completeTimeoutMs?: number;
  /** While a request is outstanding the server is asked for its stats this often (default 2 s)… */
  livenessIntervalMs?: number;
  /** …and killed as hung when it has not answered within this (default 10 s). */
  livenessTimeoutMs?: number;
  /** A request that superseded another waits for this long without a newer one before it is sent (default 25 ms). */
  stormQuietMs?: number;
}

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
  /** It superseded a waiting or running request of its channel: wait for quiet before sending it. */
  superseding: boolean;
  /** Set once it is sent: cancelling it sends $/cancelRequest. */
  cancel?: CancellationTokenSource;
}

export class ModelClient {
  private child?: ChildProcess;
  private connection?: MessageConnection;
  private nextId = 1;
  /** Completions not yet sent, at most one per channel, oldest first. */
  private readonly queue: Job[] = [];
  /** The completion sent to the server and not yet answered (it may already be settled for its caller). */
  private active?: Job;
  private loads = new Set<(e: Error) => void>();
  private lastGoodLoad?: LoadRequest;
  private info?: ModelInfo;
  /** Why the last load failed, while no model was ever loaded. */
  private loadError?: Error;
  /** The restart (and re-load) under way after a crash; requests wait for it. */
  private restoring?: Promise<void>;
  private crashes = 0;
  /** Why requests cannot be served until the next load(): gave up restarting, or the model no longer loads. */
  private fatal?: Error;
  /** Why this client killed the server (a missed deadline), for the exit's message. */
  private killReason?: string;
  private outstanding = 0;
  private liveness?: NodeJS.Timeout;
  private livenessPending = false;
  /** Whether the running server has answered anything yet: until then it is starting (slowly, on a busy machine) and only the request deadlines apply. */
  private answered = false;
  private disposed = false;
  private readonly listeners = new Set<(state: ClientState, detail?: string) => void>();
  private readonly restartDelays: number[];
  private readonly timeouts: { load: number; complete: number; interval: number; liveness: number };

  private readonly stormQuietMs: number;
  /** The longest a successful load took (ModelInfo.loadMs): a measure of how long this model keeps the server busy. */
  private slowestLoadMs = 0;

  constructor(private readonly options: ModelClientOptions) {
    this.stormQuietMs = options.stormQuietMs ?? 25;
    this.restartDelays = options.restartDelaysMs ?? [250, 1000, 4000, 10000, 30000];
    this.timeouts = {
      load: options.loadTimeoutMs ?? 60_000,
      complete: options.completeTimeoutMs ?? 60_000,
      interval: options.livenessIntervalMs ?? 2_000,
      liveness: options.livenessTimeoutMs ?? 10_000,
    };
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

  /**
   * Loads a model folder in the server (starting it if needed). Rejects with the folder's problem; the
   * model loaded before, if any, stays in use.
   */
  async load(options: { modelDir: string; executionProvider: ExecutionProviderSetting; threads: number }): Promise<ModelInfo> {
    this.assertAlive();
    const params: LoadRequest = { modelDir: options.modelDir, executionProvider: options.executionProvider, threads: options.threads };
    checkLoadRequest(params); // a bad number is refused here, naming the field, before any process is involved
    this.crashes = 0;
    await this.restoring?.catch(() => undefined);
    try {
      const info = await this.sendLoad(params);
      this.lastGoodLoad = params;
      this.info = info;
      this.slowestLoadMs = Math.max(this.slowestLoadMs, info.loadMs ?? 0);
      this.fatal = undefined;
      this.loadError = undefined;
      this.emit('ready', `${info.name} on ${info.executionProvider}`);
      return info;
    } catch (e) {
      const error = asError(e);
      if (!this.lastGoodLoad && error.name !== 'Cancelled') {
        this.loadError = error;
        this.emit('failed', error.message);
      } else {
        this.log('error', `loading ${params.modelDir} failed; still using ${this.info?.name ?? 'the last model'}: ${error.message}`);
      }
      throw error;
    }
  }

  /**
   * Completes with the loaded model. A newer call on the same channel, or `signal`, settles this one with
   * an error named 'Cancelled'; so does dispose().
   */
  complete(request: CompleteRequest, signal?: AbortSignal, onStep?: (step: TraceStep) => void, options: CompleteOptions = {}): Promise<Trace> {
    this.assertAlive();
    if (signal?.aborted) return Promise.reject(new CancelledError());
    const channel = options.channel ?? 'inline';
    // latest wins within the channel: the waiting one is dropped unsent, the running one stops at its next step
    const older = [...this.queue.filter((j) => j.channel === channel), ...(this.active?.channel === channel && !this.active.settled ? [this.active] : [])];
    for (const old of older) old.settle(new CancelledError('superseded by a newer completion'));

    return new Promise<Trace>((resolve, reject) => {
      const onAbort = () => job.settle(new CancelledError());
      const job: Job = {
        id: this.nextId++, channel, request, onStep, settled: false, superseding: older.length > 0,
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

  /** The server's counters (forwards run, decodes started, memory); starts nothing. */
  async serverStats(): Promise<ServerStats | undefined> {
    return this.connection?.sendRequest<ServerStats>(Methods.stats);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const job of [...this.queue]) job.settle(new CancelledError('the model client was disposed'));
    this.active?.settle(new CancelledError('the model client was disposed'));
    for (const reject of this.loads) reject(new CancelledError('the model client was disposed'));
    this.listeners.clear();
    this.stopLiveness();
    this.connection?.dispose();
    this.child?.kill('SIGKILL');
    this.child = undefined;
    this.connection = undefined;
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
      await this.restoring?.catch(() => undefined);
      if (job.superseding) {
        // a storm: send only once no newer request has come for a while (a newer one settles this job)
        await new Promise((resolve) => setTimeout(resolve, this.stormQuietMs));
      }
      if (job.settled) return;
      if (this.fatal) throw this.fatal;
      if (!this.lastGoodLoad) {
        throw new Error(`no model is loaded${this.loadError ? ` (loading failed: ${this.loadError.message})` : ''}`);
      }
      const connection = this.ensureStarted();
      const params: CompleteParams = { id: job.id, request: job.request, streamSteps: !!job.onStep };
      job.cancel = new CancellationTokenSource();
      const trace = await this.deadline(connection.sendRequest<Trace>(Methods.complete, params, job.cancel.token),
        this.timeouts.complete, 'a completion');
      this.crashes = 0;
      job.settle(trace);
    } catch (e) {
      job.settle(asError(e));
    }
  }

  private sendLoad(params: LoadRequest): Promise<ModelInfo> {
    const connection = this.ensureStarted();
    return new Promise<ModelInfo>((resolve, reject) => {
      const fail = (e: Error) => {
        this.loads.delete(fail);
        reject(e);
      };
      this.loads.add(fail);
      this.deadline(connection.sendRequest<ModelInfo>(Methods.load, params), this.timeouts.load, `loading ${params.modelDir}`).then((info) => {
        this.loads.delete(fail);
        resolve(info);
      }, (e) => fail(asError(e)));
    });
  }

  /** `request` against its deadline; a missed deadline kills the server (it is restarted) and fails the request. */
  private deadline<T>(request: Promise<T>, ms: number, what: string): Promise<T> {
    const child = this.child;
    this.outstanding++;
    this.startLiveness();
    const timer = setTimeout(() => {
      if (child && child === this.child) this.killHung(`the model server did not finish ${what} within ${seconds(ms)}`);
    }, ms);
    return request.then((value) => {
      if (child && child === this.child) this.answered = true;
      return value;
    }).finally(() => {
      clearTimeout(timer);
      if (--this.outstanding === 0) this.stopLiveness();
    });
  }

  private startLiveness(): void {
    if (this.liveness) return;
    this.liveness = setInterval(() => {
      const connection = this.connection;
      const child = this.child;
      if (this.livenessPending || !connection || !child) return;
      this.livenessPending = true;
      const limit = this.livenessLimit();
      const timer = this.answered ? setTimeout(() => {
        if (child === this.child) this.killHung(`the model server stopped answering (no answer to a liveness check within ${seconds(limit)})`);
      }, limit) : undefined;
      connection.sendRequest(Methods.stats).then(() => {
        if (child === this.child) this.answered = true;
      }, () => undefined).finally(() => {
        clearTimeout(timer);
        this.livenessPending = false;
      });
    }, this.timeouts.interval);
    this.liveness.unref?.();
  }

  /**
   * How long the server may leave a liveness check unanswered: the configured time, or three times the slowest
   * model load seen if that is longer. A forward (and a load's session creation and probe) occupies the server's
   * thread; a large model on a slow or busy machine may take seconds where the bundled one takes milliseconds,
   * and must not be killed as hung for it.
   */
  private livenessLimit(): number {
    return Math.max(this.timeouts.liveness, 3 * this.slowestLoadMs);
  }

  private stopLiveness(): void {
    if (this.liveness) clearInterval(this.liveness);
    this.liveness = undefined;
    this.livenessPending = false;
  }

  private killHung(reason: string): void {
    if (!this.child || this.disposed) return;
    this.log('error', `${reason}; killing it (pid ${this.child.pid})`);
    this.killReason = reason;
    this.child.kill('SIGKILL');
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
    connection.onNotification(Methods.step, (p: StepParams) => {
      const job = this.active;
      if (job && job.id === p.id && !job.settled) job.onStep?.(p.step);
    });
    // the server's warnings (a manifest without vocabDigest, threads clamped to the cores) are shown at the info level
    forwardLines(child.stderr, (line) => this.log(/failed|uncaught|error/i.test(line) ? 'error' : /\bwarning:/.test(line) ? 'info' : 'debug', line));
    forwardLines(child.stdout, (line) => this.log('debug', line));
    child.on('error', (e) => this.log('error', `model server: ${e.message}`));
    child.once('exit', (code, signal) => this.onExit(child, code, signal));
    connection.listen();
    this.child = child;
    this.connection = connection;
    this.answered = false;
    this.log('info', `model server started (pid ${child.pid})`);
    return connection;
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== this.child) return;
    this.connection?.dispose();
    this.child = undefined;
    this.connection = undefined;
    this.livenessPending = false;
    if (this.disposed) return;
    const hung = this.killReason;
    this.killReason = undefined;
    const why = hung ? `${hung}; killed it` : `the model server crashed (${signal ? `killed by ${signal}` : `exit code ${code}`})`;
    this.log('error', why);
    const error = new Error(why);
    error.name = hung ? 'ServerHung' : 'ServerCrashed';
    this.active?.settle(error);
    for (const reject of this.loads) reject(error);
    this.emit('crashed', why);
    this.crashes++;
    if (this.crashes > this.restartDelays.length) {
      this.fatal = new Error(`${why}; gave up after ${this.crashes} failures in a row (load a model to try again)`);
      this.fatal.name = 'GaveUp';
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
        this.slowestLoadMs = Math.max(this.slowestLoadMs, this.info.loadMs ?? 0);
        this.emit('ready', `restarted after: ${why}`);
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
    error.name = e.code === ErrorCodes.modelLoad ? 'ModelLoadError' : e.code === ErrorCodes.noModel ? 'NoModel'
      : e.code === ErrorCodes.invalidRequest ? 'InvalidRequest' : 'DecodeError';
    return error;
  }
  return e instanceof Error ? e : new Error(String(e));
}

function seconds(ms: number): string {
  return `${+(ms / 1000).toFixed(1)} s`;
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
