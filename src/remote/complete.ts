// `--server-url URL` of `npm run complete` and `npm run bench`: the same decode as the local model folder's, each
// forward on the team server (serve/README.md). The token comes from UNMASK_SERVER_TOKEN.
import { decode, type DecodeOptions } from '../engine/decode';
import type { CompleteRequest, Trace } from '../protocol';
import { connectRemote, type RemoteModel } from './remoteModel';

export interface RemoteTarget {
  serverUrl: string;
  /** Default: UNMASK_SERVER_TOKEN. */
  token?: string;
  /** A local copy of the manifest and tokenizer (default: the server's). */
  modelDir?: string;
  timeoutMs?: number;
}

export function openRemote(t: RemoteTarget, signal?: AbortSignal): Promise<RemoteModel> {
  const token = t.token ?? process.env.UNMASK_SERVER_TOKEN;
  return connectRemote({
    url: t.serverUrl,
    ...(token ? { token } : {}),
    ...(t.modelDir ? { modelDir: t.modelDir } : {}),
    ...(t.timeoutMs ? { timeoutMs: t.timeoutMs } : {}),
    ...(signal ? { signal } : {}),
  });
}

/** One completion through the server, cancelled by `signal` (the forward in flight too). */
export async function completeRemote(t: RemoteTarget, request: CompleteRequest, options: DecodeOptions = {}): Promise<Trace> {
  const model = await openRemote(t, options.signal);
  return decode(model, request, options); // decode hands its signal to every forward
}
