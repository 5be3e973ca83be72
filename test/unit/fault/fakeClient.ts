// A ModelClient stand-in for the lifecycle's state machine (src/client/modelLifecycle.ts), in process: no server, no
// wall clock. It says what src/client/serverProcess.ts says, in its order: 'starting' when a process starts; 'ready'
// after a good load; 'failed' when a load fails and no model was ever loaded (otherwise the last good model stays);
// on a crash, the outstanding load rejects with ServerCrashed, then 'crashed', then a new process restores the last
// good model ('starting', 'ready' "restarted after: …"), and a load waits for that restore. The tests that keep the real client and server
// (lifecycle.test.ts, lifecycleRace.test.ts) check the real one still behaves so.
import { ErrorCodes, UnmaskError, type ModelInfo } from '../../../src/protocol';
import type { ClientState } from '../../../src/client/modelClient';
import type { LoadTarget } from '../../../src/client/modelLifecycle';

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

export class FakeClient {
  modelInfo: ModelInfo | undefined;
  /** Every load the server was asked for, in order. */
  readonly loads: string[] = [];
  /** How many times a server process was started (the first one, then one per crash). */
  starts = 0;
  private running = false;
  private lastGood?: LoadTarget;
  private restoring: Promise<void> = Promise.resolve();
  private readonly crashesLeft = new Map<string, number>();
  private readonly listeners = new Set<(state: ClientState, detail?: string) => void>();

  /** `problem(folder)`: why the server refuses to load `folder` (its ModelLoadError's message), or undefined. */
  constructor(private readonly problem: (folder: string) => string | undefined = () => undefined) {}

  onDidChangeState(listener: (state: ClientState, detail?: string) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  /** The server crashes during each of the next `times` loads of `folder`. */
  crashDuringLoads(folder: string, times: number): void {
    this.crashesLeft.set(folder, times);
  }

  /** The server is killed from outside (SIGKILL): 'crashed', then the last good model is restored. */
  kill(): void {
    this.crashed('the model server crashed (killed by SIGKILL)');
  }

  /** Settles once the restore after the last crash is done. */
  restored(): Promise<void> {
    return this.restoring;
  }

  async load(target: LoadTarget): Promise<ModelInfo> {
    await this.restoring;
    if (!this.running) this.start();
    this.loads.push(target.modelDir);
    await turn(); // the request and its answer cross the IPC channel
    const crashes = this.crashesLeft.get(target.modelDir) ?? 0;
    if (crashes > 0) {
      this.crashesLeft.set(target.modelDir, crashes - 1);
      const why = 'the model server crashed (killed by SIGKILL)';
      const error = new UnmaskError(ErrorCodes.serverCrashed, why);
      this.crashed(why);
      throw error;
    }
    const problem = this.problem(target.modelDir);
    if (problem !== undefined) {
      if (!this.lastGood) this.emit('failed', problem);
      throw new UnmaskError(ErrorCodes.modelLoad, problem);
    }
    this.lastGood = target;
    this.modelInfo = info(target);
    this.emit('ready', `${this.modelInfo.name} on cpu`);
    return this.modelInfo;
  }

  private start(): void {
    this.starts++;
    this.running = true;
    this.emit('starting');
  }

  private crashed(why: string): void {
    this.running = false;
    this.emit('crashed', why);
    this.restoring = (async () => {
      await turn(); // the restart delay
      if (!this.lastGood) return; // nothing to restore: the next load starts the server
      this.start();
      this.modelInfo = info(this.lastGood);
      this.emit('ready', `restarted after: ${why}`);
    })();
  }

  private emit(state: ClientState, detail?: string): void {
    for (const l of this.listeners) l(state, detail);
  }
}

function info(target: LoadTarget): ModelInfo {
  return {
    name: `model in ${target.modelDir}`,
    modelDir: target.modelDir,
    vocabSize: 8000,
    maxSequence: 512,
    executionProvider: 'cpu',
    threads: target.threads,
  };
}
