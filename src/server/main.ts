// Entry of the model server process, forked by the extension and by the CLI (design §1).
// Speaks JSON-RPC over the fork's IPC channel; logs go to stderr, which the client forwards.
import { createMessageConnection, IPCMessageReader, IPCMessageWriter } from 'vscode-jsonrpc/node';
import { ModelServer } from './modelServer';

if (!process.send) {
  process.stderr.write('unmask model server: start me with child_process.fork (no IPC channel)\n');
  process.exit(2);
}
const log = (msg: string) => process.stderr.write(`[server] ${msg}\n`);
const connection = createMessageConnection(new IPCMessageReader(process), new IPCMessageWriter(process));
const server = new ModelServer(connection, log);
connection.onClose(() => void server.dispose().finally(() => process.exit(0)));
process.on('disconnect', () => void server.dispose().finally(() => process.exit(0)));
process.on('uncaughtException', (e) => {
  log(`uncaught: ${e.stack ?? e}`);
  process.exit(1);
});
connection.listen();
log(`ready (pid ${process.pid}, node ${process.version})`);
