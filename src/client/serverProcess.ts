// Supervises the model server process (docs/architecture.md, "Parts"): forks it, holds the JSON-RPC connection, and
// keeps it alive. No vscode import. It knows nothing of which request is the latest (requestScheduler.ts decides).
//
// * Deadlines and liveness: every load and completion has a deadline, and while one is outstanding the
//   server is asked for its stats (answered between two forwards); a server that misses either is killed
//   and restarted, and the request fails with a message that says so.
// * A crashed server is restarted with back-off and gets the last good model again. A model folder that
//   fails to load leaves the last good model in use (the server keeps it too).
import { fork, type ChildProcess } from 'node:child_process';
import {
  createMessageConnection,
  IPCMessageReader,
  IPCMessageWriter,
  type CancellationToken,
  type MessageConnection,
  type RequestType,
} from 'vscode-jsonrpc/node';
import { checkLoadRequest } from '../engine/bounds';
import type { LogLevel } from '../settings';
import { CancelledError } from '../engine/types';
import {
  ErrorCodes,
  fromResponseError,
  hasErrorCode,
  Notifications,
  Requests,
  UnmaskError,
  type CompleteParams,
  type LoadRequest,
  type ModelInfo,
  type ServerStats,
  type StepParams,
  type Trace,
} from '../protocol';

export type ClientState = 'starting' | 'ready' | 'crashed' | 'failed';

export interface ServerProcessOptions {
  /** The server entry: dist/server.js (or src/server/main.ts with execArgv ['--import', 'tsx']). */
  serverModule: string;
  log?: (level: LogLevel, msg: string) => void;
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
  /** Restart delays after successive crashes; one more crash than there are delays gives up. */
  restartDelaysMs?: number[];
  /**
   * Deadline of a load, from sending it to its answer (default 5 min: a hang is found by the liveness check within
   * seconds; the first load of a 0.5B folder on a machine measures its cost and runs every load-time probe once,
   * 44 s on a quiet 2-core machine and minutes on a busy one, and must not be killed for it).
   */
  loadTimeoutMs?: number;
  /** Deadline of a completion, from sending it to the server to its answer (default 60 s). */
  completeTimeoutMs?: number;
  /** While a request is outstanding the server is asked for its stats this often (default 2 s)… */
  livenessIntervalMs?: number;
  /** …and killed as hung when it has not answered within this (default 10 s). */
  livenessTimeoutMs?: number;
}

export class ServerProcess {
  private child?: ChildProcess;
  private connection?: MessageConnection;
  /** Requests sent and not yet answered: a crash or dispose() fails them with its own error. */
  private readonly pending = new Set<(e: Error) => void>();
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
  /** The longest a successful load took (ModelInfo.loadMs): a measure of how long this model keeps the server busy. */
  private slowestLoadMs = 0;
  /** Where step notifications go (the scheduler matches them to its running request by id). */
  onStep?: (params: StepParams) => void;

  constructor(private readonly options: ServerProcessOptions) {
    this.restartDelays = options.restartDelaysMs ?? [250, 1000, 4000, 10000, 30000];
    this.timeouts = {
      load: options.loadTimeoutMs ?? 300_000,
      complete: options.completeTimeoutMs ?? 60_000,
      interval: options.livenessIntervalMs ?? 2_000,
      liveness: options.livenessTimeoutMs ?? 10_000,
    };
  }

  get modelInfo(): ModelInfo | undefined {
    return this.info;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  onDidChangeState(listener: (state: ClientState, detail?: string) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  async load(params: LoadRequest): Promise<ModelInfo> {
    checkLoadRequest(params); // a bad number is refused here, naming the field, before any process is involved
    this.crashes = 0;
    await this.restoring?.catch(() => undefined);
    try {
      const info = await this.request(Requests.load, params, this.timeouts.load, `loading ${params.modelDir}`);
      this.lastGoodLoad = params;
      this.info = info;
      this.slowestLoadMs = Math.max(this.slowestLoadMs, info.loadMs ?? 0);
      this.fatal = undefined;
      this.loadError = undefined;
      this.emit('ready', `${info.name} on ${info.executionProvider}`);
      return info;
    } catch (e) {
      const error = fromResponseError(e);
      if (!this.lastGoodLoad && !(error instanceof CancelledError)) {
        this.loadError = error;
        this.emit('failed', error.message);
      } else {
        this.log('error', `loading ${params.modelDir} failed; still using ${this.info?.name ?? 'the last model'}: ${error.message}`);
      }
      throw error;
    }
  }

  /** Resolves once a crash restart under way (if any) has ended, well or not. */
  async restored(): Promise<void> {
    await this.restoring?.catch(() => undefined);
  }

  /** Sends one completion, once a model is loaded; the token cancels it through vscode-jsonrpc's $/cancelRequest. */
  async complete(params: CompleteParams, token: CancellationToken): Promise<Trace> {
    if (this.fatal) throw this.fatal;
    if (!this.lastGoodLoad) {
      throw new UnmaskError(ErrorCodes.noModel, `no model is loaded${this.loadError ? ` (loading failed: ${this.loadError.message})` : ''}`);
    }
    const trace = await this.request(Requests.complete, params, this.timeouts.complete, 'a completion', token);
    this.crashes = 0;
    return trace;
  }

  /** The server's counters (forwards run, decodes started, memory); starts nothing. */
  async serverStats(): Promise<ServerStats | undefined> {
    return this.connection?.sendRequest(Requests.stats);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const reject of this.pending) reject(new CancelledError('the model client was disposed'));
    this.listeners.clear();
    this.stopLiveness();
    this.connection?.dispose();
    this.child?.kill('SIGKILL');
    this.child = undefined;
    this.connection = undefined;
  }

  /** `type` against its deadline; a missed deadline kills the server (it is restarted) and fails the request. */
  private request<P, R>(type: RequestType<P, R, void>, params: P, ms: number, what: string, token?: CancellationToken): Promise<R> {
    const connection = this.ensureStarted();
    const child = this.child;
    return new Promise<R>((resolve, reject) => {
      const fail = (e: Error) => {
        this.pending.delete(fail);
        reject(e);
      };
      this.pending.add(fail);
      this.outstanding++;
      this.startLiveness();
      const timer = setTimeout(() => {
        if (child && child === this.child) this.killHung(`the model server did not finish ${what} within ${seconds(ms)}`);
      }, ms);
      connection
        .sendRequest(type, params as never, token)
        .then(
          (value) => {
            if (child && child === this.child) this.answered = true;
            this.pending.delete(fail);
            resolve(value as R);
          },
          (e) => fail(fromResponseError(e)),
        )
        .finally(() => {
          clearTimeout(timer);
          if (--this.outstanding === 0) this.stopLiveness();
        });
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
      const timer = this.answered
        ? setTimeout(() => {
            if (child === this.child) this.killHung(`the model server stopped answering (no answer to a liveness check within ${seconds(limit)})`);
          }, limit)
        : undefined;
      connection
        .sendRequest(Requests.stats)
        .then(
          () => {
            if (child === this.child) this.answered = true;
          },
          () => undefined,
        )
        .finally(() => {
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
    connection.onNotification(Notifications.step, (p) => this.onStep?.(p));
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
    const hung = this.killReason;
    this.killReason = undefined;
    const why = hung ? `${hung}; killed it` : `the model server crashed (${signal ? `killed by ${signal}` : `exit code ${code}`})`;
    const error = new UnmaskError(hung ? ErrorCodes.serverHung : ErrorCodes.serverCrashed, why);
    // fail what was outstanding with the reason before the connection's own "disposed" errors
    if (!this.disposed) for (const reject of this.pending) reject(error);
    this.connection?.dispose();
    this.child = undefined;
    this.connection = undefined;
    this.livenessPending = false;
    if (this.disposed) return;
    this.log('error', why);
    this.emit('crashed', why);
    this.crashes++;
    if (this.crashes > this.restartDelays.length) {
      this.fatal = new UnmaskError(ErrorCodes.gaveUp, `${why}; gave up after ${this.crashes} failures in a row (load a model to try again)`);
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
        this.info = await this.request(Requests.load, params, this.timeouts.load, `loading ${params.modelDir}`);
        this.slowestLoadMs = Math.max(this.slowestLoadMs, this.info.loadMs ?? 0);
        this.emit('ready', `restarted after: ${why}`);
      } catch (e) {
        if (hasErrorCode(e, ErrorCodes.modelLoad)) {
          this.lastGoodLoad = undefined;
          this.info = undefined;
          this.fatal = e;
          this.emit('failed', e.message);
        }
        throw e;
      }
    })());
    restoring
      .catch(() => undefined)
      .finally(() => {
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
