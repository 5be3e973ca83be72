// Sizes as Get Model and Manage Models print them (the CLI, the editor's progress and lists, the preflight's refusals):
// decimal units, as disks and the Hub state sizes. (A model folder's file limits are printed in binary units by
// src/model/boundedFile.ts, since they are powers of two.) No `vscode` import.

const GB = 1e9;

/** `n` bytes rounded for people: 512 B, 64 kB, 481 MB, 1.2 GB, 15 GB. */
export function formatBytes(n: number): string {
  if (n >= GB) return `${(n / GB).toFixed(n >= 10 * GB ? 0 : 1)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(0)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)} kB`;
  return `${n} B`;
}
