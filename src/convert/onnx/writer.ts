// Writes one ONNX model: nodes and small constants into the graph file, weights as external data into a file
// beside it, each weight appended as soon as it is made (the caller drops it), so a model is never held whole.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Message } from './proto';

/** TensorProto.DataType values used here. */
export const DType = { float: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float16: 10 } as const;
export type DTypeName = keyof typeof DType;

/** Opsets written into the model: ONNX 17 and onnxruntime's contrib operators (MatMulNBits). */
export const OPSET = 17;
export const MS_DOMAIN = 'com.microsoft';
const IR_VERSION = 8; // the IR of opset 17

/** A float-typed attribute (a bare number is an int attribute). */
export interface FloatAttr {
  float: number;
}
export const float = (value: number): FloatAttr => ({ float: value });
export type Attr = number | FloatAttr | string | readonly number[];

/** Options of one node: its output names (else numbered), its operator domain, its name (else numbered). */
export interface NodeOptions {
  outputs?: string[];
  domain?: string;
  name?: string;
}

/** Adds nodes (OnnxWriter.scope: all named in one scope). */
export interface Nodes {
  node(op: string, inputs: readonly string[], attrs?: Record<string, Attr>, opts?: Omit<NodeOptions, 'name'>): string;
  nodeN(op: string, inputs: readonly string[], attrs: Record<string, Attr>, opts: Omit<NodeOptions, 'name'> & { count: number }): string[];
}

/** A dimension: a fixed size or a symbolic name. */
export type Dim = number | string;

/** Weights are placed at this alignment in the data file, so onnxruntime may map them without copying. */
const ALIGN = 4096;

export class OnnxWriter {
  private readonly nodes: Message[] = [];
  private readonly initializers: Message[] = [];
  private readonly inputs: Message[] = [];
  private readonly outputs: Message[] = [];
  private readonly fd: number;
  private readonly dataName: string;
  private offset = 0;
  private counter = 0;
  private readonly names = new Set<string>();

  /** graphFile: the model.onnx to write; weights go to dataFile (a name in the same folder). */
  constructor(
    private readonly graphFile: string,
    dataFile: string,
  ) {
    this.dataName = path.basename(dataFile);
    this.fd = fs.openSync(dataFile, 'w');
  }

  private fresh(prefix: string): string {
    let name: string;
    do name = `${prefix}${this.counter++}`;
    while (this.names.has(name));
    this.names.add(name);
    return name;
  }

  /** `name`, or `name_2`, `name_3` … when it is taken (node names: one scope may use an op more than once). */
  private unique(name: string): string {
    let candidate = name;
    for (let k = 2; this.names.has(candidate); k++) candidate = `${name}_${k}`;
    this.names.add(candidate);
    return candidate;
  }

  private claim(name: string): string {
    if (this.names.has(name)) throw new Error(`ONNX writer: the name "${name}" is used twice`);
    this.names.add(name);
    return name;
  }

  input(name: string, dtype: DTypeName, dims: readonly Dim[]): string {
    this.inputs.push(valueInfo(this.claim(name), dtype, dims));
    return name;
  }

  /** Declares a graph output; `from` is renamed to `name` by an Identity when they differ. */
  output(name: string, from: string, dtype: DTypeName, dims: readonly Dim[]): void {
    this.node('Identity', [from], {}, { outputs: [name], name: `${name}/Identity` });
    this.outputs.push(valueInfo(name, dtype, dims));
  }

  /** A weight, appended to the data file now. */
  weight(name: string, dtype: DTypeName, dims: readonly number[], data: ArrayBufferView): string {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const expected = dims.reduce((a, b) => a * b, 1) * bytesPer(dtype);
    if (bytes.length !== expected) throw new Error(`ONNX writer: weight "${name}" has ${bytes.length} bytes, its shape [${dims}] needs ${expected}`);
    const pad = (ALIGN - (this.offset % ALIGN)) % ALIGN;
    if (pad) fs.writeSync(this.fd, new Uint8Array(pad));
    this.offset += pad;
    for (let at = 0; at < bytes.length;) at += fs.writeSync(this.fd, bytes, at, bytes.length - at);
    const t = tensorHead(this.claim(name), dtype, dims);
    for (const [k, v] of [
      ['location', this.dataName],
      ['offset', String(this.offset)],
      ['length', String(bytes.length)],
    ]) {
      t.message(13, new Message().string(1, k).string(2, v));
    }
    t.int(14, 1); // data_location EXTERNAL
    this.initializers.push(t);
    this.offset += bytes.length;
    return name;
  }

  /** A small constant kept inside the graph file. */
  constant(dtype: DTypeName, dims: readonly number[], values: readonly number[]): string {
    const name = this.fresh('c');
    const t = tensorHead(name, dtype, dims);
    t.bytes(9, rawBytes(dtype, values));
    this.initializers.push(t);
    return name;
  }

  /** An int64 vector constant (shapes, axes, indices). */
  ints(values: readonly number[]): string {
    return this.constant('int64', [values.length], values);
  }

  /** A float scalar constant. */
  scalar(value: number): string {
    return this.constant('float', [], [value]);
  }

  /**
   * Adds a node; returns its first output (or all, with `outputs`/`count`). `name` names the node (made unique with a
   * suffix `_2`, `_3` …); without it the node is numbered.
   */
  node(op: string, inputs: readonly string[], attrs: Record<string, Attr> = {}, opts: NodeOptions = {}): string {
    return this.nodeN(op, inputs, attrs, { ...opts, count: opts.outputs?.length ?? 1 })[0];
  }

  nodeN(op: string, inputs: readonly string[], attrs: Record<string, Attr> = {}, opts: NodeOptions & { count: number }): string[] {
    const outputs = opts.outputs?.map((o) => this.claim(o)) ?? Array.from({ length: opts.count }, () => this.fresh(`${op}_`));
    const n = new Message();
    for (const i of inputs) n.string(1, i);
    for (const o of outputs) n.string(2, o);
    n.string(3, opts.name === undefined ? this.fresh('n') : this.unique(opts.name));
    n.string(4, op);
    for (const [key, value] of Object.entries(attrs)) n.message(5, attribute(key, value));
    if (opts.domain) n.string(7, opts.domain);
    this.nodes.push(n);
    return outputs;
  }

  /**
   * The writer's node and nodeN with every node named `<scope>/<op>` (`<scope>/<op>_2` … for a repeated op), e.g.
   * `layers.3.self_attn.o_proj/MatMul`, so an onnxruntime profile names the layer and the op of each node.
   */
  scope(scope: string): Nodes {
    return {
      node: (op, inputs, attrs = {}, opts = {}) => this.node(op, inputs, attrs, { ...opts, name: `${scope}/${op}` }),
      nodeN: (op, inputs, attrs = {}, opts) => this.nodeN(op, inputs, attrs, { ...opts, name: `${scope}/${op}` }),
    };
  }

  /** Writes the graph file and closes the data file; returns the bytes of both. */
  finish(name: string, doc: string): { bytes: number } {
    fs.closeSync(this.fd);
    const g = new Message();
    for (const n of this.nodes) g.message(1, n);
    g.string(2, name);
    for (const t of this.initializers) g.message(5, t);
    g.string(10, doc);
    for (const i of this.inputs) g.message(11, i);
    for (const o of this.outputs) g.message(12, o);
    const m = new Message().int(1, IR_VERSION).string(2, 'unmask-convert').string(3, '1');
    m.message(7, g);
    m.message(8, new Message().string(1, '').int(2, OPSET));
    m.message(8, new Message().string(1, MS_DOMAIN).int(2, 1));
    const bytes = m.encode();
    fs.writeFileSync(this.graphFile, bytes);
    return { bytes: bytes.length + this.offset };
  }

  /** Closes the data file without writing the graph (after a failure). */
  abort(): void {
    try {
      fs.closeSync(this.fd);
    } catch {
      // already closed
    }
  }
}

function bytesPer(dtype: DTypeName): number {
  return { float: 4, uint8: 1, int8: 1, int32: 4, int64: 8, bool: 1, float16: 2 }[dtype];
}

function tensorHead(name: string, dtype: DTypeName, dims: readonly number[]): Message {
  const t = new Message();
  if (dims.length) t.ints(1, dims);
  t.int(2, DType[dtype]);
  t.string(8, name);
  return t;
}

function rawBytes(dtype: DTypeName, values: readonly number[]): Uint8Array {
  switch (dtype) {
    case 'float':
      return new Uint8Array(Float32Array.from(values).buffer);
    case 'int64':
      return new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer);
    case 'int32':
      return new Uint8Array(Int32Array.from(values).buffer);
    case 'uint8':
    case 'bool':
      return Uint8Array.from(values);
    case 'int8':
      return new Uint8Array(Int8Array.from(values).buffer);
    case 'float16':
      return new Uint8Array(Uint16Array.from(values).buffer); // values given as float16 bit patterns
  }
}

function valueInfo(name: string, dtype: DTypeName, dims: readonly Dim[]): Message {
  const shape = new Message();
  for (const d of dims) shape.message(1, typeof d === 'number' ? new Message().int(1, d) : new Message().string(2, d));
  const tensor = new Message().int(1, DType[dtype]).message(2, shape);
  return new Message().string(1, name).message(2, new Message().message(1, tensor));
}

// AttributeProto.AttributeType
const ATTR = { float: 1, int: 2, string: 3, ints: 7 } as const;

function attribute(name: string, value: Attr): Message {
  const a = new Message().string(1, name);
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`ONNX writer: attribute "${name}" = ${value} is not an integer (use float())`);
    return a.int(3, value).int(20, ATTR.int);
  }
  if (typeof value === 'string') return a.string(4, value).int(20, ATTR.string);
  if (Array.isArray(value)) {
    for (const v of value) a.int(8, v); // repeated int64, unpacked as onnx writes it
    return a.int(20, ATTR.ints);
  }
  return a.float(2, (value as FloatAttr).float).int(20, ATTR.float);
}
