// The live `unmask.*` settings: validated on every change, with the last good value kept for each invalid one.
import * as vscode from 'vscode';
import { defaultSettings, readSettings, type Settings } from '../settings';

export class Config implements vscode.Disposable {
  private settings: Settings = defaultSettings;
  private readonly changed = new vscode.EventEmitter<{ previous: Settings; current: Settings }>();
  /** Fires after a change to any `unmask.*` setting, with the values before and after. */
  readonly onDidChange = this.changed.event;
  private readonly listener: vscode.Disposable;

  constructor(
    private readonly reportProblem: (message: string) => void,
    private readonly reportNote: (message: string) => void = () => undefined,
  ) {
    this.settings = this.read();
    this.listener = vscode.workspace.onDidChangeConfiguration((event) => {
      if (!event.affectsConfiguration('unmask')) return;
      const previous = this.settings;
      this.settings = this.read();
      this.changed.fire({ previous, current: this.settings });
    });
  }

  get current(): Settings {
    return this.settings;
  }

  /** Writes a user (global) setting; the change event follows. */
  async update<K extends keyof Settings | 'policyParameter'>(key: K, value: unknown): Promise<void> {
    await vscode.workspace.getConfiguration('unmask').update(key, value, vscode.ConfigurationTarget.Global);
  }

  private read(): Settings {
    const configuration = vscode.workspace.getConfiguration('unmask');
    const { settings, problems, notes } = readSettings((key) => configuration.get(key), this.settings);
    for (const problem of problems) this.reportProblem(problem);
    for (const note of notes) this.reportNote(note);
    return settings;
  }

  dispose(): void {
    this.listener.dispose();
    this.changed.dispose();
  }
}
