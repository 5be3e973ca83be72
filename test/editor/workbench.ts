// Driving the VS Code workbench in Chromium with playwright-core: the command palette, files, the cursor, ghost
// text, notifications and the status bar, by what a user sees.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { repoRoot, type CodeServer } from './codeServer';

export const chromiumFlags = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export class Workbench {
  private constructor(
    readonly page: Page,
    readonly server: CodeServer,
  ) {}

  /** Starts Chromium with the profile in `userDataDir`; it needs no server yet, so it starts beside code-server. */
  static launch(userDataDir: string): Promise<BrowserContext> {
    return chromium.launchPersistentContext(userDataDir, {
      executablePath: process.env.UNMASK_CHROMIUM || '/usr/bin/chromium',
      args: chromiumFlags,
      headless: true,
      viewport: { width: 1280, height: 800 },
    });
  }

  /** Opens the server's workbench in the browser `context` (from launch) and waits for it to show. */
  static async open(server: CodeServer, context: BrowserContext): Promise<Workbench> {
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(server.url);
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    return new Workbench(page, server);
  }

  async close(): Promise<void> {
    await this.page.context().close();
  }

  /** The Unmask status bar item (its accessible name starts with "Unmask"). */
  get statusItem(): Locator {
    return this.page.locator('#unmask\\.unmask\\.status, .statusbar-item[id*="unmask.status"]').first();
  }

  async statusText(): Promise<string> {
    return ((await this.statusItem.textContent()) ?? '').replace(/\s+/g, ' ').trim();
  }

  /** Whether the status bar shows a model loaded and ready: "Unmask NAME (PROVIDER)". */
  async modelReady(): Promise<boolean> {
    return /Unmask \S+ \(\w+\)/.test(await this.statusText().catch(() => ''));
  }

  /** Runs a command by its title from the command palette, as a user would. */
  async runCommand(title: string): Promise<void> {
    // the title goes into the palette's box at once (as pasted), not key by key: each key refilters every command
    await this.openPalette(`>${title}`);
    // The row whose label is exactly the title, not a longer command that contains it.
    const row = this.page
      .locator('.quick-input-widget .monaco-list-row')
      .filter({ has: this.page.locator('.label-name', { hasText: new RegExp(`^${escapeRegExp(title)}$`) }) })
      .first();
    await row.waitFor({ timeout: 10_000 });
    await row.click();
  }

  private async openPalette(prefix: string): Promise<void> {
    await this.page.keyboard.press('F1');
    const input = this.page.locator('.quick-input-widget input.input');
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    await input.fill(prefix);
  }

  /** Opens a workspace file from the Explorer and focuses its editor. */
  async openFile(name: string): Promise<void> {
    await this.page.locator('.explorer-folders-view .monaco-list-row', { hasText: name }).first().click();
    await this.page.locator(`.tab.active[data-resource-name="${name}"]`).first().waitFor({ timeout: 15_000 });
    await this.runCommand('View: Focus Active Editor Group');
    await this.page.locator('.editor-group-container.active .monaco-editor.focused').first().waitFor({ timeout: 10_000 });
  }

  /**
   * Changes a setting by rewriting its settings.json on disk, as a user editing it in another editor would;
   * undefined removes it. A setting with machine scope goes to the remote (Machine) settings, the only place a
   * remote window such as code-server's reads it from; any other to the user settings. VS Code watches both
   * files and reloads the configuration (the extension sees onDidChangeConfiguration); the caller waits for the
   * effect it expects. A change to the user settings file after start-up was not seen by code-server 4.139 (its
   * User folder is not watched there); `target: 'workspace'` writes the workspace's .vscode/settings.json, which
   * is. (Saving from the settings editor of VS Code 1.139, a modal JSON editor, did not reliably
   * reach the disk in this harness.)
   */
  async setSetting(key: string, value: unknown, target: 'user' | 'workspace' = 'user'): Promise<void> {
    const file = machineScoped(key)
      ? this.server.machineSettings
      : target === 'workspace'
        ? path.join(this.server.workspace, '.vscode', 'settings.json')
        : this.server.userSettings;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const settings = (fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {}) as Record<string, unknown>;
    if (value === undefined) delete settings[key];
    else settings[key] = value;
    fs.writeFileSync(file, `${JSON.stringify(settings, null, 2)}\n`);
  }

  /** Puts the cursor at 1-based line and column with Go to Line. */
  async goTo(line: number, column: number): Promise<void> {
    await this.openPalette(`:${line}:${column}`);
    await this.page.keyboard.press('Enter');
    await this.page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 5_000 });
  }

  /** The cursor's 1-based line and column as the status bar shows them ("Ln 24, Col 16"), or undefined where it shows none. */
  async cursor(): Promise<{ line: number; column: number } | undefined> {
    const [text] = await this.page.locator('[id="status.editor.selection"]').allTextContents();
    const m = /Ln (\d+), Col (\d+)/.exec(text ?? '');
    return m ? { line: Number(m[1]), column: Number(m[2]) } : undefined;
  }

  async type(text: string): Promise<void> {
    await this.page.keyboard.type(text, { delay: 20 });
  }

  /** The ghost text shown now, or '' when none: the first line of an inline suggestion. */
  async ghostText(): Promise<string> {
    const parts = await this.page.locator('.monaco-editor .ghost-text-decoration').allTextContents();
    return parts.join('').replace(/\u00a0/g, ' ');
  }

  async waitForGhostText(timeout = 30_000): Promise<string> {
    await this.page.locator('.monaco-editor .ghost-text-decoration').first().waitFor({ state: 'visible', timeout });
    return this.ghostText();
  }

  /** Texts of the notification toasts on screen, with their severity. */
  async notifications(): Promise<{ severity: 'error' | 'warning' | 'info'; text: string }[]> {
    const toasts = await this.page.locator('.notification-toast-container .notification-list-item').all();
    const result: { severity: 'error' | 'warning' | 'info'; text: string }[] = [];
    for (const toast of toasts) {
      const icon = (await toast.locator('.notification-list-item-icon').getAttribute('class')) ?? '';
      const severity = icon.includes('error') ? 'error' : icon.includes('warning') ? 'warning' : 'info';
      result.push({ severity, text: ((await toast.locator('.notification-list-item-message').textContent()) ?? '').trim() });
    }
    return result;
  }

  async waitForNotification(text: string | RegExp, timeout = 30_000): Promise<Locator> {
    const toast = this.page.locator('.notification-toast-container .notification-list-item', { hasText: text }).first();
    await toast.waitFor({ state: 'visible', timeout });
    return toast;
  }

  async clearNotifications(): Promise<void> {
    await this.runCommand('Notifications: Clear All Notifications');
  }

  async save(): Promise<void> {
    await this.page.keyboard.press('Control+s');
    await this.page.locator('.tab.active.dirty').waitFor({ state: 'detached', timeout: 10_000 });
  }

  /**
   * Saves a screenshot under .test-output/; one meant for the documentation goes to docs/ (tracked) only
   * when UNMASK_SCREENSHOTS=1 asks for it, so that a test run leaves the working tree clean.
   */
  async screenshot(name: string, where: 'docs' | 'output' = 'output'): Promise<string> {
    const toDocs = where === 'docs' && process.env.UNMASK_SCREENSHOTS === '1';
    const dir = path.join(repoRoot, toDocs ? 'docs' : '.test-output');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, name);
    await this.page.screenshot({ path: file });
    return file;
  }
}

/**
 * Polls `read` until its text satisfies `wanted` and returns that text; after `timeout` ms returns the last text read,
 * for the caller's assertion to show. For text the page draws in parts (a title, then its message).
 */
export async function waitForText(read: () => Promise<string>, wanted: (text: string) => boolean, timeout = 10_000): Promise<string> {
  let text = '';
  await waitFor(async () => wanted((text = await read().catch(() => ''))), 'the text', timeout).catch(() => undefined);
  return text;
}

/** Polls `condition` until true; fails with `what` after `timeout` ms. */
export async function waitFor(condition: () => Promise<boolean>, what: string, timeout = 30_000, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Whether the extension's package.json gives `key` machine (or machine-overridable) scope. */
function machineScoped(key: string): boolean {
  const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
    contributes?: { configuration?: { properties?: Record<string, { scope?: string }> } | { properties?: Record<string, { scope?: string }> }[] };
  };
  const groups = [manifest.contributes?.configuration ?? []].flat();
  const scope = groups.map((g) => g.properties?.[key]?.scope).find(Boolean);
  return scope === 'machine' || scope === 'machine-overridable';
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
