// The models Get Model installed: the folders under storage/models with their size and origin. No `vscode` import.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { modelsDir, readOrigin, type Origin } from './getModel';

export interface Installed {
  folder: string;
  name: string;
  bytes: number;
  origin?: Origin;
}

async function folderBytes(dir: string): Promise<number> {
  let n = 0;
  for (const e of await fs.promises.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    n += e.isDirectory() ? await folderBytes(p) : e.isFile() ? (await fs.promises.stat(p)).size : 0;
  }
  return n;
}

/** Model folders Get Model installed (each has unmask.json; staging folders start with a dot and are skipped). */
export async function installedModels(storage: string): Promise<Installed[]> {
  const dir = modelsDir(storage);
  const names = await fs.promises.readdir(dir).catch(() => [] as string[]);
  const found: Installed[] = [];
  for (const name of names.sort()) {
    const folder = path.join(dir, name);
    if (name.startsWith('.') || !fs.existsSync(path.join(folder, 'unmask.json'))) continue;
    const origin = await readOrigin(folder);
    found.push({ folder, name, bytes: await folderBytes(folder), ...(origin ? { origin } : {}) });
  }
  return found;
}
