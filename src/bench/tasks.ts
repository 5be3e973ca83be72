// Infill task files in the HumanEval-infilling format (JSONL, optionally gzipped).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

export interface InfillTask {
  task_id: string;
  prompt: string;
  suffix: string;
  canonical_solution: string;
}

export interface TaskFile {
  name: string;
  tasks: InfillTask[];
  /** Single-line when no task's truth spans lines: decoded in the editor's single-line mode. */
  singleLine: boolean;
  /** Malformed lines, skipped: "FILE:LINE: what is wrong". */
  skipped: string[];
}

export function readTaskFile(file: string, limit?: number): TaskFile {
  let text: string;
  try {
    const raw = fs.readFileSync(file);
    text = file.endsWith('.gz') ? zlib.gunzipSync(raw).toString('utf8') : raw.toString('utf8');
  } catch (e) {
    throw new Error(`cannot read task file ${file}: ${(e as Error).message}`, { cause: e });
  }
  const tasks: InfillTask[] = [];
  const skipped: string[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim() || (limit !== undefined && tasks.length >= limit)) return;
    const problem = taskProblem(line);
    if (problem) skipped.push(`${file}:${i + 1}: ${problem}; line skipped`);
    else tasks.push(JSON.parse(line) as InfillTask);
  });
  if (tasks.length === 0) throw new Error(`${file}: no valid tasks${skipped.length ? ` (${skipped[0]})` : ''}`);
  const name = path.basename(file).replace(/\.jsonl(\.gz)?$/, '');
  return { name, tasks, singleLine: tasks.every((t) => !t.canonical_solution.trim().includes('\n')), skipped };
}

function taskProblem(line: string): string | undefined {
  let t: Record<string, unknown>;
  try {
    t = JSON.parse(line);
  } catch {
    return 'not valid JSON';
  }
  if (typeof t !== 'object' || t === null || Array.isArray(t)) return 'not a JSON object';
  for (const field of ['task_id', 'prompt', 'suffix', 'canonical_solution']) {
    if (typeof t[field] !== 'string') return `field "${field}" must be a string`;
  }
  return undefined;
}

/** A file, or every .jsonl/.jsonl.gz file of a folder (sorted). */
export function readTasks(fileOrDir: string, limit?: number): TaskFile[] {
  if (fs.existsSync(fileOrDir) && fs.statSync(fileOrDir).isDirectory()) {
    return fs
      .readdirSync(fileOrDir)
      .filter((f) => /\.jsonl(\.gz)?$/.test(f))
      .sort()
      .map((f) => readTaskFile(path.join(fileOrDir, f), limit));
  }
  return [readTaskFile(fileOrDir, limit)];
}
