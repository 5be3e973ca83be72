// The safetensors format (8-byte little-endian header length, a JSON header, then the raw tensors), read without
// loading a file: the header is checked against the file's size when opened, and each tensor is read from its own
// offset when asked, converted to float32.
import { open } from 'node:fs/promises';
import { endianness } from 'node:os';
import { CHECKPOINT_FILE_LIMITS, FILE_LIMITS } from '../engine/bounds';
import { checkRegularFile, formatBytes, jsonProblem } from '../model/boundedFile';
import { jsonBudgetProblem } from '../model/jsonBudget';

/** Bytes per element of the dtypes safetensors names; the float ones are those the converter reads. */
const DTYPE_BYTES: Record<string, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  U64: 8,
  I32: 4,
  U32: 4,
  I16: 2,
  U16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
};
export const FLOAT_DTYPES = ['F32', 'F16', 'BF16'] as const;

/** A checkpoint that cannot be converted; the message names the file and the field (or tensor). */
export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
  constructor(
    readonly file: string,
    message: string,
    readonly field?: string,
  ) {
    super(`${file}: ${message}`);
  }
}

export interface TensorEntry {
  name: string;
  dtype: string;
  shape: number[];
  /** Absolute byte offsets in the file (the header's data_offsets plus the header itself). */
  begin: number;
  end: number;
}

export interface SafetensorsFile {
  path: string;
  size: number;
  tensors: Map<string, TensorEntry>;
}

// elements of a 16-bit tensor converted per read (8 MiB of file at a time)
export const HALF_CHUNK = 4 * 1024 * 1024;
// a header is JSON text of a few hundred bytes per tensor; anything far larger is a corrupt length, not a header
// (a 50 MB header of nested brackets took 2.7 GB in JSON.parse: it is now refused by its length, then by the JSON budget)
const MAX_HEADER = CHECKPOINT_FILE_LIMITS.safetensorsHeader;

/**
 * A safetensors file not downloaded yet: its size (the Hub's file list) and its first bytes, the 8-byte length and the
 * header (two HTTP Range reads), so that Get Model runs the converter's checks before the download.
 */
export interface SafetensorsHead {
  size: number;
  head: Buffer;
}

/**
 * Reads and checks a safetensors file's header: every tensor's offsets inside the file and matching its shape × dtype.
 * With `remote`, the header comes from it instead of the file (which need not exist).
 */
export async function openSafetensors(path: string, remote?: SafetensorsHead): Promise<SafetensorsFile> {
  if (endianness() !== 'LE') throw new CheckpointError(path, 'safetensors files are little-endian; this machine is not');
  // a regular file (a FIFO or /dev/zero is refused by name); its size bounds every offset below
  const size = remote
    ? remote.size
    : checkRegularFile(path, {
        limit: FILE_LIMITS.weights,
        limitOf: 'a safetensors file',
        error: (file, message, field) => new CheckpointError(file, message, field),
      });
  if (size < 8) throw new CheckpointError(path, `truncated: ${size} bytes, shorter than the 8-byte header length`);
  const fh = remote ? headReader(remote, path) : await open(path, 'r');
  let header: unknown;
  let text: string;
  let dataStart: number;
  try {
    const lenBuf = Buffer.alloc(8);
    await readFully(fh, lenBuf, 0, path);
    const len = lenBuf.readBigUInt64LE(0);
    if (len > BigInt(size - 8)) {
      throw new CheckpointError(path, `truncated or corrupt: the header length ${len} reaches beyond the file's ${size} bytes`, 'header length');
    }
    if (len > BigInt(MAX_HEADER)) {
      throw new CheckpointError(
        path,
        `corrupt: a header length of ${len} bytes, more than the ${MAX_HEADER} (${formatBytes(MAX_HEADER)}) a safetensors header may have here`,
        'header length',
      );
    }
    const n = Number(len);
    dataStart = 8 + n;
    const bytes = Buffer.alloc(n);
    await readFully(fh, bytes, 8, path);
    text = bytes.toString('utf8');
  } finally {
    await fh.close();
  }
  const over = jsonBudgetProblem(text); // before JSON.parse builds the tree (src/model/jsonBudget.ts)
  if (over) throw new CheckpointError(path, `corrupt: the header ${over}: refused before parsing it`, 'header');
  try {
    header = JSON.parse(text);
  } catch (e) {
    // where, not what: the bytes may be those of any file a link names
    throw new CheckpointError(path, `corrupt: the header is not valid JSON (${jsonProblem(e)})`, 'header');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new CheckpointError(path, 'corrupt: the header is not a JSON object', 'header');
  }
  // JSON.parse keeps the last of two equal keys: which tensor is meant is then a guess
  const dup = duplicateTopLevelKey(text);
  if (dup !== undefined) throw new CheckpointError(path, `corrupt header: tensor ${JSON.stringify(dup)} is named twice`, dup);
  const tensors = new Map<string, TensorEntry>();
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') continue;
    const bad = (what: string): never => {
      throw new CheckpointError(path, `corrupt header: tensor "${name}" ${what}`, name);
    };
    if (typeof raw !== 'object' || raw === null) bad('is not an object');
    const { dtype, shape, data_offsets: offsets } = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== 'string') bad('has no "dtype"');
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) bad('has no valid "shape"');
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      bad('has no valid "data_offsets"');
    }
    const [b, e] = offsets as number[];
    if (e < b) bad(`has data_offsets [${b}, ${e}] that end before they begin`);
    if (dataStart + e > size) {
      bad(`has data_offsets [${b}, ${e}] reaching beyond the file (${size - dataStart} bytes of data): the file is truncated`);
    }
    const bytes = DTYPE_BYTES[dtype as string];
    const count = (shape as number[]).reduce((a, d) => a * d, 1);
    if (bytes !== undefined && count * bytes !== e - b) {
      bad(`has shape [${(shape as number[]).join(', ')}] × ${dtype} = ${count * bytes} bytes, but its data_offsets span ${e - b}`);
    }
    tensors.set(name, { name, dtype: dtype as string, shape: shape as number[], begin: dataStart + b, end: dataStart + e });
  }
  // two tensors sharing bytes: writing one would change the other, and a checkpoint never does it
  const byStart = [...tensors.values()].filter((t) => t.end > t.begin).sort((x, y) => x.begin - y.begin);
  for (let i = 1; i < byStart.length; i++) {
    const [a, b] = [byStart[i - 1], byStart[i]];
    if (b.begin < a.end) {
      throw new CheckpointError(
        path,
        `corrupt header: tensors "${a.name}" and "${b.name}" overlap (data_offsets [${a.begin - dataStart}, ${a.end - dataStart}] and ` +
          `[${b.begin - dataStart}, ${b.end - dataStart}])`,
        b.name,
      );
    }
  }
  return { path, size, tensors };
}

/**
 * The first key of the header's top-level object that appears twice, or undefined (a scan of valid JSON text: keys
 * are the strings at depth 1 that follow "{" or ",").
 */
export function duplicateTopLevelKey(text: string): string | undefined {
  const seen = new Set<string>();
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      for (i++; i < text.length; i++) {
        const s = text.charCodeAt(i);
        if (s === 0x5c /* \ */) i++;
        else if (s === 0x22) break;
      }
      if (depth === 1 && expectKey) {
        const key = JSON.parse(text.slice(start, i + 1)) as string;
        if (seen.has(key)) return key;
        seen.add(key);
        expectKey = false;
      }
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth++;
      expectKey = depth === 1 && c === 0x7b;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
    } else if (c === 0x2c /* , */ && depth === 1) {
      expectKey = true;
    }
  }
  return undefined;
}

/** Refuses a tensor whose dtype the converter does not read (before anything is written). */
export function checkFloat(file: SafetensorsFile, entry: TensorEntry): void {
  if (!(FLOAT_DTYPES as readonly string[]).includes(entry.dtype)) {
    throw new CheckpointError(
      file.path,
      `tensor "${entry.name}" has dtype ${entry.dtype}; expected one of ${FLOAT_DTYPES.join(', ')} ` +
        '(quantised checkpoints are not read: convert from the original weights)',
      entry.name,
    );
  }
}

/**
 * Reads `count` elements of a tensor starting at element `first` (row slices of a fused or cut tensor) and converts
 * them to float32. Only those bytes are read from disk.
 */
export async function readFloat32(file: SafetensorsFile, entry: TensorEntry, first = 0, count?: number): Promise<Float32Array> {
  checkFloat(file, entry);
  const bytes = DTYPE_BYTES[entry.dtype];
  const total = (entry.end - entry.begin) / bytes;
  const n = count ?? total - first;
  if (first < 0 || n < 0 || first + n > total) {
    throw new RangeError(`${file.path}: tensor "${entry.name}": elements [${first}, ${first + n}) outside its ${total}`);
  }
  const out = new Float32Array(n);
  const position = entry.begin + first * bytes;
  const fh = await open(file.path, 'r');
  try {
    if (entry.dtype === 'F32') {
      await readFully(fh, new Uint8Array(out.buffer), position, file.path);
      return out;
    }
    // 16-bit values are read through a small buffer, so that only the float32 result is ever held whole
    const half = new Uint16Array(Math.min(n, HALF_CHUNK));
    const bits = new Uint32Array(out.buffer);
    const table = entry.dtype === 'F16' ? f16Table() : undefined;
    for (let at = 0; at < n; at += half.length) {
      const m = Math.min(half.length, n - at);
      await readFully(fh, new Uint8Array(half.buffer, 0, 2 * m), position + 2 * at, file.path);
      // bfloat16 is the upper half of a float32: exact
      if (!table) for (let i = 0; i < m; i++) bits[at + i] = half[i] << 16;
      else for (let i = 0; i < m; i++) out[at + i] = table[half[i]];
    }
    return out;
  } finally {
    await fh.close();
  }
}

let F16: Float32Array | undefined;
/** Every float16 bit pattern as float32 (exact: float32 holds every float16 value, subnormals, infinities and NaN). */
export function f16Table(): Float32Array {
  if (F16) return F16;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    t[h] = exp === 0 ? sign * frac * 2 ** -24 : exp === 31 ? (frac ? NaN : sign * Infinity) : sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  F16 = t;
  return t;
}

type Readable = Pick<import('node:fs/promises').FileHandle, 'read' | 'close'>;

/** The remote header as a file handle of openSafetensors: reads past its bytes find nothing (a truncated header). */
function headReader(remote: SafetensorsHead, path: string): Readable {
  return {
    read: (async (into: Uint8Array, offset: number, length: number, position: number) => {
      if (position >= remote.head.length) throw new CheckpointError(path, `the header read from the Hub ends at byte ${remote.head.length}: truncated`);
      const n = remote.head.copy(into, offset, position, Math.min(remote.head.length, position + length));
      return { bytesRead: n, buffer: into };
    }) as Readable['read'],
    close: async () => undefined,
  };
}

async function readFully(fh: Readable, into: Uint8Array, position: number, path: string): Promise<void> {
  // one read() may return fewer bytes than asked (and at most 2 GiB at once)
  let done = 0;
  while (done < into.length) {
    const want = Math.min(into.length - done, 1 << 30);
    const { bytesRead } = await fh.read(into, done, want, position + done);
    if (bytesRead === 0) throw new CheckpointError(path, `truncated: ended at byte ${position + done} while reading`);
    done += bytesRead;
  }
}
