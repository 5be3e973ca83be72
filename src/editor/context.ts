// The one object that owns everything Unmask creates in the editor; disposing it undoes the activation.
import * as vscode from 'vscode';
import { Config } from './config';
import { History } from './history';
import { Log } from './log';
import { ModelSession } from './modelSession';

export class Context implements vscode.Disposable {
  private readonly cleanups: vscode.Disposable[] = [];
  readonly log: Log;
  readonly config: Config;
  readonly model: ModelSession;
  readonly history: History;

  constructor(readonly extension: vscode.ExtensionContext) {
    this.log = this.pushCleanup(new Log('info'));
    this.config = this.pushCleanup(
      new Config(
        (problem) => {
          this.log.error(problem);
          void vscode.window.showErrorMessage(`Unmask: ${problem}`);
        },
        (note) => this.log.info(note),
      ),
    );
    this.log.level = this.config.current.logLevel;
    this.pushCleanup(
      this.config.onDidChange(({ current }) => {
        this.log.level = current.logLevel;
      }),
    );
    this.model = this.pushCleanup(new ModelSession(extension.extensionPath, this.config, this.log, () => extension.secrets.get('unmask.serverToken')));
    this.history = this.pushCleanup(
      new History(process.env.UNMASK_TRACE_LOG || undefined, (median) => {
        const info = this.model.info;
        const cause = info
          ? `the model ${info.name} on ${info.executionProvider} with ${info.threads} threads` +
            (info.fallbackReason ? ` (fell back from the requested provider: ${info.fallbackReason})` : '')
          : 'the model';
        void vscode.window.showWarningMessage(
          `Unmask: completions are taking about ${Math.round(median)} ms. The likely cause is ${cause}; ` +
            'a smaller model, fewer slots (unmask.singleLineSlots) or a GPU execution provider would be faster.',
        );
      }),
    );
  }

  get version(): string {
    return (this.extension.extension.packageJSON as { version: string }).version;
  }

  pushCleanup<T extends vscode.Disposable>(disposable: T): T {
    this.cleanups.push(disposable);
    return disposable;
  }

  registerCommand(id: string, run: (...args: unknown[]) => unknown): void {
    this.pushCleanup(
      vscode.commands.registerCommand(id, async (...args: unknown[]) => {
        try {
          return await run(...args);
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          this.log.error(`${id} failed: ${error instanceof Error && error.stack ? error.stack : message}`);
          void vscode.window.showErrorMessage(`Unmask: ${message}`);
        }
      }),
    );
  }

  dispose(): void {
    for (const d of this.cleanups.reverse()) d.dispose();
    this.cleanups.length = 0;
  }
}
