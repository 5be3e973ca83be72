// Checks a model folder before Unmask uses it, so a wrong folder is refused with a reason and the model in use
// keeps working. The server checks the graph and tokenizer against the manifest when it loads. No `vscode` import.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** `~/x` → the home folder's x; other paths unchanged. */
export function expandHome(folder: string): string {
  return folder === '~' || folder.startsWith('~/') ? path.join(os.homedir(), folder.slice(1)) : folder;
}

/** Undefined when the folder looks like a Unmask model; otherwise what is wrong with it, naming the file and field. */
export function checkModelFolder(folder: string): string | undefined {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(folder);
  } catch {
    return `${folder} does not exist`;
  }
  if (!stat.isDirectory()) return `${folder} is not a folder`;
  const manifestPath = path.join(folder, 'unmask.json');
  let manifest: unknown;
  try {
    manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  } catch (error) {
    return fs.existsSync(manifestPath)
      ? `${manifestPath} is not valid JSON (${(error as Error).message})`
      : `${folder} has no unmask.json (the model manifest)`;
  }
  const m = manifest as { format?: unknown; files?: { model?: unknown; tokenizer?: unknown } };
  if (m.format !== 1) return `${manifestPath}: "format" must be 1, got ${JSON.stringify(m.format)}`;
  for (const field of ['model', 'tokenizer'] as const) {
    const file = m.files?.[field];
    if (typeof file !== 'string') return `${manifestPath}: "files.${field}" must name a file`;
    if (!fs.existsSync(path.join(folder, file))) return `${manifestPath}: "files.${field}" names ${file}, which is not in ${folder}`;
  }
  return undefined;
}
