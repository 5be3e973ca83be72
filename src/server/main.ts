// Entry of the model server process, forked by the extension and by the CLI (docs/architecture.md, "Parts").
// Speaks JSON-RPC over the fork's IPC channel; logs go to stderr, which the client forwards.
import { createMessageConnection, IPCMessageReader, IPCMessageWriter, type Message, type ResponseMessage } from 'vscode-jsonrpc/node';
import { ErrorCodes } from '../protocol';
import { ModelServer } from './modelServer';

if (!process.send) {
  process.stderr.write('unmask model server: start me with child_process.fork (no IPC channel)\n');
  process.exit(2);
}
const log = (msg: string) => process.stderr.write(`[server] ${msg}\n`);

// The connection hands over one queued message per event-loop turn. `dispatched` counts them, so that
// drain() can yield until a turn passes in which nothing was handed over: the queue is then empty.
let dispatched = 0;
const connection = createMessageConnection(new IPCMessageReader(process), new IPCMessageWriter(process), undefined, {
  messageStrategy: {
    handleMessage(message: Message, next: (message: Message) => void) {
      dispatched++;
      return next(message);
    },
  },
  // A $/cancelRequest for a request still in the queue answers it at once: it never reaches a handler.
  connectionStrategy: {
    cancelUndispatched(message: Message): ResponseMessage | undefined {
      server.noteCancelledBeforeDispatch(); // messages arrive only after listen(), when the server exists
      return {
        jsonrpc: '2.0',
        id: (message as { id?: number | string | null }).id ?? null,
        error: { code: ErrorCodes.cancelled, message: 'Cancelled before it started' },
      };
    },
  },
});
const MAX_DRAIN_TURNS = 10_000;
async function drain(): Promise<void> {
  for (let turn = 0; turn < MAX_DRAIN_TURNS; turn++) {
    const before = dispatched;
    await new Promise((resolve) => setImmediate(resolve));
    // at least two turns: a message read from the channel during this turn is handed over in the next one
    if (dispatched === before && turn >= 1) return;
  }
}
const server = new ModelServer(connection, log, undefined, drain);
connection.onClose(() => void server.dispose().finally(() => process.exit(0)));
process.on('disconnect', () => void server.dispose().finally(() => process.exit(0)));
process.on('uncaughtException', (e) => {
  log(`uncaught: ${e.stack ?? e}`);
  process.exit(1);
});
connection.listen();
log(`ready (pid ${process.pid}, node ${process.version})`);
