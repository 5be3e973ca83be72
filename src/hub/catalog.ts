// The catalog of code diffusion models (catalog.json, the one place their facts live) and what Get Model needs to
// know of a repository that is not in it.
import type { Precision } from '../contract/precision';
import data from './catalog.json';

export interface CatalogEntry {
  name: string;
  title: string;
  repo: string;
  revision: string;
  family: string;
  /** Billions. */
  parameters: number;
  downloadGB: number;
  /** At int8, the default precision. */
  convertedGB: number;
  memoryGB: number;
  device: 'cpu' | 'gpu';
  license: string;
  quality: string;
  /** Fields that are estimates, not measured. */
  estimated: string[];
  notes: string;
}

const GB = 1e9;

function checkEntry(e: unknown, i: number): CatalogEntry {
  const o = e as Record<string, unknown>;
  const where = `src/hub/catalog.json: "models[${i}]`;
  for (const k of ['name', 'title', 'repo', 'revision', 'family', 'license', 'quality', 'notes']) {
    if (typeof o?.[k] !== 'string' || !(o[k] as string)) throw new Error(`${where}.${k}" must be a non-empty string`);
  }
  for (const k of ['parameters', 'downloadGB', 'convertedGB', 'memoryGB']) {
    if (typeof o[k] !== 'number' || !((o[k] as number) > 0)) throw new Error(`${where}.${k}" must be a positive number`);
  }
  if (o.device !== 'cpu' && o.device !== 'gpu') throw new Error(`${where}.device" must be "cpu" or "gpu"`);
  if (!Array.isArray(o.estimated)) throw new Error(`${where}.estimated" must list field names`);
  return o as unknown as CatalogEntry;
}

export const CATALOG: readonly CatalogEntry[] = data.models.map(checkEntry);

/** A catalog entry by its name or its repository (case-insensitive), or undefined. */
export function findEntry(nameOrRepo: string): CatalogEntry | undefined {
  const key = nameOrRepo.toLowerCase();
  return CATALOG.find((e) => e.name === key || e.repo.toLowerCase() === key);
}

/**
 * Bytes per parameter of a converted model's weights at each precision, block scales included; int8 measured (Open-dCoder
 * 0.5B's shapes: 481 MiB for 494M parameters, the tied embedding stored once), the others in proportion.
 */
const BYTES_PER_PARAMETER: Record<Precision, number> = { int4: 0.55, int8: 1.0, int8nbits: 1.07, fp16: 2, fp32: 4 };

export interface Needs {
  /** Bytes the download adds to the disk. */
  downloadBytes: number;
  /** Bytes of the converted model folder. */
  convertedBytes: number;
  /** Bytes of memory to run it. */
  memoryBytes: number;
  /** True when these come from a parameter count, not measurement. */
  estimated: boolean;
}

/**
 * What getting a model costs. A catalog entry's own figures at int8; otherwise from the download's size, taking the
 * weights as 16-bit (what the Hub's checkpoints almost always are): an estimate, said to be one.
 */
export function needsOf(weightsBytes: number, downloadBytes: number, precision: Precision, entry?: CatalogEntry): Needs {
  if (entry && precision === 'int8') {
    return { downloadBytes, convertedBytes: entry.convertedGB * GB, memoryBytes: entry.memoryGB * GB, estimated: entry.estimated.length > 0 };
  }
  const parameters = weightsBytes / 2;
  const convertedBytes = parameters * BYTES_PER_PARAMETER[precision];
  // the session holds the weights once, plus onnxruntime's and node's own (measured: 1.65 GB peak for a 0.5 GB folder)
  return { downloadBytes, convertedBytes, memoryBytes: convertedBytes * 1.1 + 1.2 * GB, estimated: true };
}
