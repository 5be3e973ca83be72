// What to do next when a model folder cannot be used: the loader (src/model) says what is wrong with the folder; this
// says what to do about it, on the command line or in the editor. A missing folder → get a model; a Hugging Face
// checkpoint (config.json and weights, no unmask.json) → convert it. No `vscode` import.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MANIFEST_FILE } from '../contract/manifest';

export type Where = 'cli' | 'editor';

/** The next step for a model folder that failed to load, or undefined when the loader's own message is the whole story. */
export function modelFolderNextStep(folder: string, where: Where): string | undefined {
  const dir = path.resolve(folder);
  const get = where === 'editor' ? 'run "Unmask: Get Model…"' : 'get one with npm run get-model -- open-dcoder-0.5b (it prints the model folder)';
  const st = fs.statSync(dir, { throwIfNoEntry: false });
  if (!st) return `there is no folder ${dir}: ${get}, or name a folder that npm run convert or Get Model wrote`;
  if (!st.isDirectory() || fs.existsSync(path.join(dir, MANIFEST_FILE))) return undefined;
  const names = fs.readdirSync(dir);
  if (names.includes('config.json') && names.some((n) => n.endsWith('.safetensors') || n === 'model.safetensors.index.json')) {
    return (
      `${dir} is a Hugging Face checkpoint (config.json and safetensors), not a model folder: convert it first with ` +
      `npm run convert -- ${JSON.stringify(dir)} --out MODEL_FOLDER and use MODEL_FOLDER` +
      (where === 'editor'
        ? ', or get it with "Unmask: Get Model…" (OWNER/NAME), which converts it'
        : ', or get it with npm run get-model -- OWNER/NAME, which converts it')
    );
  }
  return `${dir} has no ${MANIFEST_FILE}, so it is not a model folder: ${get}, or convert a checkpoint with npm run convert`;
}

/** `e` with the next step appended to its message (same error object, so its name and kind stay). */
export function withModelFolderNextStep(e: unknown, folder: string, where: Where): unknown {
  if (!(e instanceof Error)) return e;
  const next = modelFolderNextStep(folder, where);
  if (next && !e.message.includes(next)) e.message = `${e.message}; ${next}`;
  return e;
}
