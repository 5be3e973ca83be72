// The "Unmask" output channel, filtered by the `unmask.logLevel` setting.
import * as vscode from 'vscode';
import type { LogLevel } from '../settings';

const rank: Record<LogLevel, number> = { error: 0, info: 1, debug: 2 };

export class Log implements vscode.Disposable {
  private readonly channel = vscode.window.createOutputChannel('Unmask');

  constructor(public level: LogLevel) {}

  error(message: string): void {
    this.write('error', message);
  }
  info(message: string): void {
    this.write('info', message);
  }
  debug(message: string): void {
    this.write('debug', message);
  }

  write(level: LogLevel, message: string): void {
    if (rank[level] > rank[this.level]) return;
    this.channel.appendLine(`${new Date().toISOString()} [${level}] ${message}`);
  }

  show(): void {
    this.channel.show(true);
  }

  dispose(): void {
    this.channel.dispose();
  }
}
