// The editor's side of getting models: Unmask: Get Model… (a quick pick of the catalog or any Hub repository, a
// cancellable progress notification), Unmask: Manage Models (use, delete) and the one-time notice that the bundled
// model is only a demonstrator. Downloads run here, on node's https, so VS Code's proxy settings apply to them;
// converting runs in a child process (src/hub/forkInstallWorker.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Context } from './context';
import { CancelledError } from '../engine/types';
import { formatBytes } from '../hub/bytes';
import { CATALOG, type CatalogEntry } from '../hub/catalog';
import { getModel, type GetModelProgress } from '../hub/getModel';
import { deleteSnapshot, hubCacheDir, repoCacheDir, snapshotDir } from '../hub/hfCache';
import { HubError, repoIdProblem } from '../hub/hubClient';
import { forkInstaller, forkPrechecker } from '../hub/forkInstallWorker';
import { findLeftovers, type Leftover } from '../hub/leftovers';
import { installedModels, modelsDir } from '../hub/store';
import { familyList } from '../convert/familyList';

/** SecretStorage key of the user's Hugging Face token. */
const TOKEN_SECRET = 'unmask.huggingFaceToken';
/** globalState key: the demonstrator notice was shown once. */
const NOTICE_SHOWN = 'unmask.demonstratorNoticeShown';

function storageDir(ctx: Context): string {
  return ctx.extension.globalStorageUri.fsPath;
}

function describeEntry(e: CatalogEntry): string {
  const est = (field: string) => (e.estimated.includes(field) ? '~' : '');
  return (
    `download ${est('downloadGB')}${e.downloadGB} GB · on disk ${est('convertedGB')}${e.convertedGB} GB · memory ${est('memoryGB')}${e.memoryGB} GB · ` +
    `${e.device === 'cpu' ? 'runs on a CPU' : 'GPU recommended'} · ${e.license}`
  );
}

/** Asks which model: a catalog entry, or any repository typed in. */
async function pickSource(): Promise<string | undefined> {
  const TYPE = '$(edit) Type any Hub repository…';
  const picked = await vscode.window.showQuickPick(
    [
      ...CATALOG.map((e) => ({ label: e.title, description: `${e.repo} · ${e.parameters}B`, detail: describeEntry(e), source: e.repo })),
      { label: TYPE, description: `OWNER/NAME of a diffusion checkpoint with safetensors: ${familyList('or')}`, detail: '', source: '' },
    ],
    { title: 'Unmask: get a model from the Hugging Face Hub', placeHolder: 'Converted on this machine; the smallest runs on a CPU', matchOnDescription: true },
  );
  if (!picked) return undefined;
  if (picked.source) return picked.source;
  return vscode.window
    .showInputBox({
      title: 'Unmask: Hub repository',
      prompt: 'OWNER/NAME, e.g. fredzzp/open-dcoder-0.5B',
      ignoreFocusOut: true,
      validateInput: (v) => repoIdProblem(v.trim()),
    })
    .then((v) => v?.trim());
}

function progressMessage(p: GetModelProgress): string {
  switch (p.phase) {
    case 'list':
      return `listing ${p.repo}…`;
    case 'cached':
      return `found in the Hugging Face cache${p.offline ? ' (the Hub is unreachable: using the cached revision)' : ''}: nothing to download`;
    case 'precheck':
      return `checking the config, tokenizer and weights' headers (${formatBytes(p.bytes)}) before the download…`;
    case 'download': {
      const left = p.secondsLeft !== undefined ? `, ${Math.ceil(p.secondsLeft / 60)} min left` : '';
      return `downloading ${formatBytes(p.bytes)} of ${formatBytes(p.total)} (${formatBytes(p.rate)}/s${left})`;
    }
    case 'convert':
      return `converting: ${p.done} of ${p.total}${p.message ? ` (${p.message})` : ''}`;
    case 'check':
      return 'checking the converted model with one forward pass…';
  }
}

/** The fraction done, weighting the download and the conversion equally. */
function fraction(p: GetModelProgress): number | undefined {
  if (p.phase === 'download') return p.total > 0 ? 0.5 * (p.bytes / p.total) : undefined;
  if (p.phase === 'convert') return p.total > 0 ? 0.5 + 0.45 * (p.done / p.total) : undefined;
  if (p.phase === 'check') return 0.95;
  return undefined;
}

export function getModelCommand(ctx: Context): (source?: unknown) => Promise<void> {
  return async (source?: unknown) => {
    const chosen = typeof source === 'string' && source ? source : await pickSource();
    if (!chosen) return;
    const worker = path.join(ctx.extension.extensionPath, 'dist', 'installWorker.js');
    for (;;) {
      const token = (await ctx.extension.secrets.get(TOKEN_SECRET)) || undefined;
      try {
        const got = await vscode.window.withProgress(
          { location: vscode.ProgressLocation.Notification, title: `Unmask: getting ${chosen}`, cancellable: true },
          async (progress, cancel) => {
            const controller = new AbortController();
            cancel.onCancellationRequested(() => controller.abort());
            let reported = 0;
            return getModel({
              source: chosen,
              storageDir: storageDir(ctx),
              ...(token ? { token } : {}),
              networkHint: "no connection to the Hub: check the network, HF_ENDPOINT and VS Code's proxy settings (http.proxy)",
              signal: controller.signal,
              install: forkInstaller(worker, (line) => ctx.log.debug(`converter: ${line}`)),
              precheck: forkPrechecker(worker, (line) => ctx.log.debug(`converter: ${line}`)),
              onProgress: (p) => {
                const f = fraction(p);
                const increment = f !== undefined && f > reported ? (f - reported) * 100 : undefined;
                if (f !== undefined && f > reported) reported = f;
                progress.report({ message: progressMessage(p), ...(increment ? { increment } : {}) });
              },
            });
          },
        );
        ctx.log.info(`get model: ${got.origin.repo} at ${got.origin.commit} → ${got.folder} (${formatBytes(got.received)} downloaded)`);
        await ctx.config.update('modelFolder', got.folder);
        void vscode.window.showInformationMessage(`Unmask: ${got.name} is installed and now in use (${got.folder}).`);
        return;
      } catch (error) {
        if (error instanceof CancelledError) {
          void vscode.window.showInformationMessage('Unmask: Get Model cancelled; run it again to resume the download.');
          return;
        }
        if (error instanceof HubError && error.kind === 'auth') {
          const choice = await vscode.window.showErrorMessage(`Unmask: ${error.message}`, 'Enter Token');
          if (choice && (await askToken(ctx))) continue;
          return;
        }
        throw error;
      }
    }
  };
}

async function askToken(ctx: Context): Promise<boolean> {
  const token = await vscode.window.showInputBox({
    title: 'Unmask: Hugging Face token',
    prompt: "A read token from huggingface.co/settings/tokens; kept in VS Code's secret storage",
    password: true,
    ignoreFocusOut: true,
    validateInput: (v) => (v.trim() ? undefined : 'the token is empty'),
  });
  if (!token) return false;
  await ctx.extension.secrets.store(TOKEN_SECRET, token.trim());
  return true;
}

export function manageModelsCommand(ctx: Context): () => Promise<void> {
  return async () => {
    const models = await installedModels(storageDir(ctx));
    const leftovers = await findLeftovers(storageDir(ctx));
    const inUse = ctx.model.folderFor(ctx.config.current);
    const GET = '$(cloud-download) Get Model…';
    const BUNDLED = '$(package) The bundled demonstrator';
    const picked = await vscode.window.showQuickPick(
      [
        ...models.map((m) => ({
          label: m.name,
          description: `${formatBytes(m.bytes)}${m.folder === inUse ? ' · in use' : ''}`,
          detail: m.origin
            ? `${m.origin.repo} at ${m.origin.commit.slice(0, 12)}, ${m.origin.precision}, ${m.origin.installed ? `installed ${m.origin.installed.slice(0, 10)}` : 'installed'}`
            : m.folder,
          model: m,
        })),
        {
          label: BUNDLED,
          description: ctx.config.current.modelFolder ? '' : 'in use',
          detail: 'tiny (5M parameters): rarely confident enough to show anything',
          model: undefined,
        },
        { label: GET, description: '', detail: '', model: undefined },
        // what interrupted installs left (a Get Model of the same model reclaims or resumes them too)
        ...leftovers.map((l) => ({
          label: `$(trash) Leftover: ${l.what}`,
          description: formatBytes(l.bytes),
          detail: `${leftoverKind(l)} · ${l.folder}`,
          model: undefined,
          leftover: l,
        })),
      ],
      { title: `Unmask: installed models (${modelsDir(storageDir(ctx))})` },
    );
    if (!picked) return;
    if (picked.label === GET) return void vscode.commands.executeCommand('unmask.getModel');
    if ('leftover' in picked && picked.leftover) return deleteLeftover(picked.leftover);
    if (!picked.model) return ctx.config.update('modelFolder', '');
    const model = picked.model;
    // the checkpoint it was converted from, kept in the Hugging Face cache (shared with other tools: deleted only on request)
    const origin = model.origin;
    const repoDir = origin ? repoCacheDir(hubCacheDir(), origin.repo) : undefined;
    const snapshot = origin && repoDir && fs.existsSync(snapshotDir(repoDir, origin.commit)) ? snapshotDir(repoDir, origin.commit) : undefined;
    const DELETE_DOWNLOAD = 'Delete its download from the Hugging Face cache';
    const action = await vscode.window.showQuickPick(['Use', 'Delete', ...(snapshot ? [DELETE_DOWNLOAD] : [])], { title: `Unmask: ${model.name}` });
    if (action === 'Use') return ctx.config.update('modelFolder', model.folder);
    if (action === DELETE_DOWNLOAD && origin && repoDir && snapshot) {
      const sure = await vscode.window.showWarningMessage(
        `Delete the checkpoint ${origin.repo} at ${origin.commit.slice(0, 12)} from the Hugging Face cache (${snapshot})? ` +
          'Other tools (transformers, huggingface_hub) share that cache and would download it again; the converted model stays.',
        { modal: true },
        'Delete',
      );
      if (sure !== 'Delete') return;
      const freed = await deleteSnapshot(repoDir, origin.commit);
      vscode.window.setStatusBarMessage(`Unmask: deleted the download of ${origin.repo} (${formatBytes(freed)})`, 3000);
      return;
    }
    if (action === 'Delete') {
      const sure = await vscode.window.showWarningMessage(`Delete ${model.name} (${formatBytes(model.bytes)})?`, { modal: true }, 'Delete');
      if (sure !== 'Delete') return;
      // the model in use is switched to the bundled one first, so nothing loads a folder that is going away
      if (path.resolve(inUse) === path.resolve(model.folder)) await ctx.config.update('modelFolder', '');
      await fs.promises.rm(model.folder, { recursive: true, force: true });
      vscode.window.setStatusBarMessage(`Unmask: deleted ${model.name}`, 3000);
    }
  };
}

function leftoverKind(l: Leftover): string {
  if (l.kind === 'staging') return 'a half-made model folder of an interrupted install';
  return l.partial ? 'a partial download (Get Model of the same model resumes it)' : 'a kept download (Get Model of the same model reuses it)';
}

async function deleteLeftover(l: Leftover): Promise<void> {
  const sure = await vscode.window.showWarningMessage(`Delete ${l.folder} (${formatBytes(l.bytes)})?`, { modal: true }, 'Delete');
  if (sure !== 'Delete') return;
  await fs.promises.rm(l.folder, { recursive: true, force: true });
  vscode.window.setStatusBarMessage(`Unmask: deleted ${path.basename(l.folder)}`, 3000);
}

/** Once per installation: the bundled model is a demonstrator; offers Get Model. */
export async function showDemonstratorNotice(ctx: Context): Promise<void> {
  const state = ctx.extension.globalState;
  if (state.get<boolean>(NOTICE_SHOWN) || ctx.config.current.modelFolder) return;
  await state.update(NOTICE_SHOWN, true);
  const first = CATALOG[0];
  const choice = await vscode.window.showInformationMessage(
    'Unmask: the bundled model is a tiny demonstrator (5M parameters) and will rarely show a completion. ' +
      `Get a real one: ${first.title} runs on a CPU (${describeEntry(first).split(' · ').slice(0, 3).join(', ')}).`,
    'Get Model…',
    'Not Now',
  );
  if (choice === 'Get Model…') await vscode.commands.executeCommand('unmask.getModel');
}
