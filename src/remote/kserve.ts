// A client of the Open Inference Protocol (KServe v2) over HTTP(S) for the team server (serve/README.md): JSON
// tensors, a bearer token, a deadline per request and the caller's cancellation. Every failure is a named error: the
// caller's abort is CancelledError, a server that does not answer (refused, died mid-request, past the deadline) is
// RemoteUnavailable, a refused token RemoteUnauthorized, anything else the server answers a DecodeError with its text.
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

export interface Tensor {
  name: string;
  datatype: 'INT64' | 'FP32';
  shape: number[];
  data: number[];
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

  /** GET a JSON document (or, with `text`, the body as text). */
  async get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return (await this.request('GET', path, undefined, signal)) as T;
  }

  /** POST /v2/models/{model}/infer with JSON tensors; the outputs by name. */
  async infer(model: string, inputs: string, outputs: readonly string[], signal?: AbortSignal): Promise<Map<string, Tensor>> {
    const body = `{"inputs":${inputs},"outputs":[${outputs.map((n) => `{"name":${JSON.stringify(n)}}`).join(',')}]}`;
    const answer = (await this.request('POST', `/v2/models/${encodeURIComponent(model)}/infer`, body, signal)) as { outputs?: Tensor[] };
    return new Map((answer.outputs ?? []).map((t) => [t.name, t]));
  }

  private async request(method: string, path: string, body: string | undefined, signal?: AbortSignal): Promise<unknown> {
    if (signal?.aborted) throw new CancelledError();
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const both = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const where = `the Unmask server at ${this.base}`;
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${this.base}${path}`, {
        method,
        signal: both,
        headers: {
          ...(body ? { 'content-type': 'application/json' } : {}),
          ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}),
        },
        ...(body ? { body } : {}),
      });
      text = await response.text();
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
      throw new UnmaskError(ErrorCodes.decode, `${where} answered HTTP ${response.status} to ${method} ${path}: ${text.slice(0, 300)}`);
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new UnmaskError(ErrorCodes.decode, `${where} answered ${method} ${path} with something that is not JSON`);
    }
  }
}

function causeOf(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (e as Error)?.message ?? String(e);
}
