// A client of the Open Inference Protocol (KServe v2) over HTTP(S) for the team server (serve/README.md): tensors in
// the binary tensor extension (a JSON header, then each tensor's little-endian bytes), a bearer token, a deadline per
// request and the caller's cancellation. Every failure is a named error: the caller's abort is CancelledError, a server
// that does not answer (refused, died mid-request, past the deadline) is RemoteUnavailable, a refused token
// RemoteUnauthorized, anything else the server answers a DecodeError with its text.
import { CancelledError } from '../engine/types';
import { ErrorCodes, UnmaskError } from '../protocol';

export interface ServerOptions {
  /** http(s)://host:port, optionally ending in /v2/models/NAME (a server that serves several models, e.g. Triton). */
  url: string;
  /** Sent as `Authorization: Bearer …`; never logged or put in a message. */
  token?: string;
  /** Deadline of one HTTP request (ms). Default 10 s: a local forward that blocks longer gets its process killed as hung. */
  timeoutMs?: number;
}

export const DEFAULT_REMOTE_TIMEOUT_MS = 10_000;

/** A tensor of the protocol: INT64 as a BigInt64Array, FP32 as a Float32Array. */
export interface Tensor {
  name: string;
  datatype: 'INT64' | 'FP32';
  shape: number[];
  data: BigInt64Array | Float32Array;
}

/** The binary tensor extension's header: the length of the JSON that starts the body, the tensors' bytes after it. */
export const BINARY_HEADER = 'inference-header-content-length';

/**
 * An infer request's body in the binary tensor extension: the JSON part names every tensor with its
 * `binary_data_size` and asks for every output as binary; the tensors' bytes follow it in the order named.
 */
export function binaryRequest(inputs: readonly Tensor[], outputs: readonly string[]): { body: Uint8Array; headerLength: number } {
  const json = JSON.stringify({
    inputs: inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape, parameters: { binary_data_size: t.data.byteLength } })),
    outputs: outputs.map((name) => ({ name, parameters: { binary_data: true } })),
  });
  const head = Buffer.from(json, 'utf8');
  const body = new Uint8Array(head.length + inputs.reduce((n, t) => n + t.data.byteLength, 0));
  body.set(head, 0);
  let at = head.length;
  for (const t of inputs) {
    body.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return { body, headerLength: head.length };
}

interface OutputJson {
  name?: unknown;
  datatype?: unknown;
  shape?: unknown;
  data?: unknown;
  parameters?: { binary_data_size?: unknown };
}

/**
 * An infer answer's outputs, from the binary tensor extension (`headerLength` given: the JSON part, then each output's
 * bytes with its `binary_data_size`, in order) or from plain JSON tensors (`data` arrays). Throws a message naming what
 * does not fit.
 */
export function parseInferAnswer(body: Uint8Array, headerLength: number | undefined): Map<string, Tensor> {
  const jsonEnd = headerLength ?? body.length;
  if (!Number.isInteger(jsonEnd) || jsonEnd < 0 || jsonEnd > body.length)
    throw new Error(`${BINARY_HEADER} ${headerLength} does not fit a body of ${body.length} bytes`);
  const answer = JSON.parse(Buffer.from(body.buffer, body.byteOffset, jsonEnd).toString('utf8')) as { outputs?: OutputJson[] };
  const out = new Map<string, Tensor>();
  let at = jsonEnd;
  for (const o of answer.outputs ?? []) {
    const name = String(o.name);
    const datatype = o.datatype;
    if (datatype !== 'INT64' && datatype !== 'FP32') throw new Error(`output ${name}: datatype ${String(datatype)}, expected INT64 or FP32`);
    const shape = Array.isArray(o.shape) ? o.shape.map(Number) : [];
    const count = shape.reduce((n, d) => n * d, 1);
    const size = o.parameters?.binary_data_size;
    let data: BigInt64Array | Float32Array;
    if (size !== undefined) {
      const bytes = Number(size);
      if (!Number.isInteger(bytes) || bytes !== count * (datatype === 'INT64' ? 8 : 4) || at + bytes > body.length) {
        throw new Error(`output ${name}: binary_data_size ${String(size)} does not fit its shape [${shape.join(', ')}] or the body`);
      }
      const copy = body.slice(at, at + bytes); // aligned for the typed array
      data = datatype === 'INT64' ? new BigInt64Array(copy.buffer, 0, count) : new Float32Array(copy.buffer, 0, count);
      at += bytes;
    } else if (Array.isArray(o.data) && o.data.length === count) {
      data = datatype === 'INT64' ? BigInt64Array.from(o.data as number[], (x) => BigInt(x)) : Float32Array.from(o.data as number[]);
    } else {
      throw new Error(`output ${name}: neither binary_data_size nor ${count} values`);
    }
    out.set(name, { name, datatype, shape, data });
  }
  return out;
}

/** The server's address without a trailing slash or model path, and the model named in the URL, if any. */
export function parseServerUrl(url: string): { base: string; model?: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UnmaskError(ErrorCodes.invalidRequest, `server URL ${JSON.stringify(url)} is not a URL (expected http(s)://host:port)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new UnmaskError(ErrorCodes.invalidRequest, `server URL ${JSON.stringify(url)}: expected http:// or https://`);
  }
  if (u.username || u.password)
    throw new UnmaskError(ErrorCodes.invalidRequest, 'server URL: put the token in secret storage or UNMASK_SERVER_TOKEN, not in the URL');
  const m = /^(.*?)\/v2\/models\/([^/]+)\/?$/.exec(u.pathname);
  const path = (m ? m[1] : u.pathname).replace(/\/+$/, '');
  return { base: `${u.origin}${path}`, ...(m ? { model: decodeURIComponent(m[2]) } : {}) };
}

export class KServeClient {
  readonly base: string;
  readonly modelInUrl?: string;
  private readonly timeoutMs: number;

  constructor(private readonly options: ServerOptions) {
    const { base, model } = parseServerUrl(options.url);
    this.base = base;
    if (model) this.modelInUrl = model;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_REMOTE_TIMEOUT_MS;
  }

  /** GET a JSON document. */
  async get<T>(path: string, signal?: AbortSignal): Promise<T> {
    const { body } = await this.request('GET', path, undefined, signal);
    try {
      return JSON.parse(Buffer.from(body).toString('utf8')) as T;
    } catch {
      throw new UnmaskError(ErrorCodes.decode, `the Unmask server at ${this.base} answered GET ${path} with something that is not JSON`);
    }
  }

  /** POST /v2/models/{model}/infer in the binary tensor extension; the outputs by name. */
  async infer(model: string, inputs: readonly Tensor[], outputs: readonly string[], signal?: AbortSignal): Promise<Map<string, Tensor>> {
    const path = `/v2/models/${encodeURIComponent(model)}/infer`;
    const { body, headerLength } = binaryRequest(inputs, outputs);
    const answer = await this.request('POST', path, { bytes: body, headerLength }, signal);
    try {
      return parseInferAnswer(answer.body, answer.headerLength);
    } catch (e) {
      throw new UnmaskError(ErrorCodes.decode, `the Unmask server at ${this.base} answered POST ${path} with tensors that do not fit: ${(e as Error).message}`);
    }
  }

  private async request(
    method: string,
    path: string,
    send: { bytes: Uint8Array; headerLength: number } | undefined,
    signal?: AbortSignal,
  ): Promise<{ body: Uint8Array; headerLength?: number }> {
    if (signal?.aborted) throw new CancelledError();
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const both = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const where = `the Unmask server at ${this.base}`;
    let response: Response;
    let body: Uint8Array;
    try {
      response = await fetch(`${this.base}${path}`, {
        method,
        signal: both,
        headers: {
          ...(send ? { 'content-type': 'application/octet-stream', [BINARY_HEADER]: String(send.headerLength) } : {}),
          ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}),
        },
        ...(send ? { body: send.bytes } : {}),
      });
      body = new Uint8Array(await response.arrayBuffer());
    } catch (e) {
      if (signal?.aborted) throw new CancelledError();
      if (timeout.aborted) throw new UnmaskError(ErrorCodes.remoteUnavailable, `${where} did not answer within ${this.timeoutMs} ms (${method} ${path})`);
      throw new UnmaskError(ErrorCodes.remoteUnavailable, `${where} did not answer (${causeOf(e)}); is it running? (npm run serve)`);
    }
    if (response.status === 401 || response.status === 403) {
      throw new UnmaskError(
        ErrorCodes.remoteUnauthorized,
        `${where} refused the token (HTTP ${response.status}): set the one the server was started with (Unmask: Set Server Token, or UNMASK_SERVER_TOKEN)`,
      );
    }
    if (!response.ok) {
      throw new UnmaskError(
        ErrorCodes.decode,
        `${where} answered HTTP ${response.status} to ${method} ${path}: ${Buffer.from(body.subarray(0, 300)).toString('utf8')}`,
      );
    }
    const header = response.headers.get(BINARY_HEADER);
    return { body, ...(header !== null ? { headerLength: Number(header) } : {}) };
  }
}

function causeOf(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (e as Error)?.message ?? String(e);
}
