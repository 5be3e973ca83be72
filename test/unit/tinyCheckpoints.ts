// training/tiny_checkpoints.py's tiny random checkpoints of every family, built once and shared by the suites that
// need them (the converter's parity test, the Get Model end-to-end and Hugging Face cache tests): one Python run of
// ~10 s instead of one per suite. The build is kept in node_modules/.cache/unmask-tests/ under the hash of what it is
// made from (training/'s Python and JSON, the pinned requirements, and src/, whose sources train the tokenizer), so
// a later run with nothing changed reuses it; each caller gets its own copy. Python must be installed
// (bash training/install.sh): without it this fails, it never skips.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const CACHE = path.join(ROOT, 'node_modules', '.cache', 'unmask-tests');

/** Every file under `dir` (recursively) whose name passes `keep`, sorted. */
function files(dir: string, keep: (name: string) => boolean): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!entry.name.startsWith('.') && entry.name !== '__pycache__' && entry.name !== 'runs') out.push(...files(p, keep));
    } else if (keep(entry.name)) out.push(p);
  }
  return out.sort();
}

/** The hash of everything the checkpoints are made from. */
function inputsHash(): string {
  const hash = createHash('sha256');
  const inputs = [...files(path.join(ROOT, 'training'), (n) => /\.(py|json|txt)$/.test(n)), ...files(path.join(ROOT, 'src'), () => true)];
  for (const file of inputs) hash.update(path.relative(ROOT, file)).update('\0').update(fs.readFileSync(file)).update('\0');
  return hash.digest('hex').slice(0, 16);
}

/** Runs training/tiny_checkpoints.py into a staging folder renamed to `dir`, and removes builds of other sources. */
function build(dir: string): void {
  const staging = fs.mkdtempSync(`${dir}.staging-`);
  try {
    const made = spawnSync('python3', [path.join(ROOT, 'training', 'tiny_checkpoints.py'), staging], {
      encoding: 'utf8',
      env: { ...process.env, OMP_NUM_THREADS: '1' },
      maxBuffer: 16 << 20,
    });
    if (made.status !== 0) {
      throw new Error(
        `training/tiny_checkpoints.py failed (its Python packages come from bash training/install.sh):\n${(made.stderr || made.error?.message || '').slice(-3000)}`,
      );
    }
    fs.renameSync(staging, dir);
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
  // builds of other sources (and leftovers of killed runs), an hour old: a run that started before the sources
  // changed may still be copying its build
  for (const old of fs.readdirSync(CACHE)) {
    const p = path.join(CACHE, old);
    try {
      if (old.startsWith('tiny-checkpoints-') && p !== dir && Date.now() - fs.statSync(p).mtimeMs > 3_600_000) fs.rmSync(p, { recursive: true, force: true });
    } catch {
      // another run removed it first
    }
  }
}

let built: string | undefined;

/** The folder holding one checkpoint folder per family (read-only: copy before changing anything). */
function tinyCheckpoints(): string {
  if (built) return built;
  const dir = path.join(CACHE, `tiny-checkpoints-${inputsHash()}`);
  fs.mkdirSync(CACHE, { recursive: true });
  // one builder at a time: mocha's parallel workers (and other runs) wait for the one holding the lock
  const lock = `${dir}.lock`;
  while (!fs.existsSync(dir)) {
    try {
      fs.mkdirSync(lock);
    } catch {
      // a lock left by a killed run is taken over after 2 minutes (a build takes ~10 s)
      try {
        if (Date.now() - fs.statSync(lock).mtimeMs > 120_000) fs.rmSync(lock, { recursive: true, force: true });
      } catch {
        // released meanwhile
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
      continue;
    }
    try {
      if (!fs.existsSync(dir)) build(dir);
    } finally {
      fs.rmSync(lock, { recursive: true, force: true });
    }
  }
  return (built = dir);
}

/** Copies the tiny checkpoint of each of `families` (all when omitted) to `out/<family>`; returns `out`. */
export function copyTinyCheckpoints(out: string, families?: readonly string[]): string {
  const from = tinyCheckpoints();
  for (const family of families ?? fs.readdirSync(from)) fs.cpSync(path.join(from, family), path.join(out, family), { recursive: true });
  return out;
}
