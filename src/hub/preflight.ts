// Refuses, before a byte is downloaded, what cannot fit: the disk space for the download and the converted model,
// and the memory to run it. No `vscode` import.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatBytes } from './bytes';
import type { Needs } from './catalog';

export interface Machine {
  /** Free bytes on the disk holding `dir` (fs.statfs). */
  freeBytes(dir: string): Promise<number>;
  totalMemory(): number;
}

export const thisMachine: Machine = {
  async freeBytes(dir) {
    // the folder may not exist yet: ask about the nearest one that does
    let at = path.resolve(dir);
    while (!fs.existsSync(at) && path.dirname(at) !== at) at = path.dirname(at);
    const s = await fs.promises.statfs(at);
    return s.bavail * s.bsize;
  },
  totalMemory: () => os.totalmem(),
};

/** Why the model cannot be got here, or undefined. `alreadyBytes`: what an earlier, interrupted download left. */
export async function checkRoom(dir: string, needs: Needs, alreadyBytes = 0, machine: Machine = thisMachine): Promise<string | undefined> {
  const about = needs.estimated ? 'about ' : '';
  const disk = Math.max(0, needs.downloadBytes - alreadyBytes) + needs.convertedBytes;
  const free = await machine.freeBytes(dir);
  if (free < disk) {
    return (
      `not enough disk space in ${dir}: it needs ${about}${formatBytes(disk)} (the download ${formatBytes(needs.downloadBytes - alreadyBytes)}, ` +
      `the converted model ${formatBytes(needs.convertedBytes)}) and ${formatBytes(free)} is free`
    );
  }
  const memory = machine.totalMemory();
  if (memory < needs.memoryBytes) {
    return (
      `not enough memory: the model needs ${about}${formatBytes(needs.memoryBytes)} to run and this machine has ${formatBytes(memory)}; ` +
      'choose a smaller model or a lower precision (int4)'
    );
  }
  return undefined;
}
