// The child process of forkInstaller (forkInstallWorker.ts), bundled as dist/installWorker.js: runs the install step
// (installStep.ts: converts one checkpoint, checks it and renames it into place), reporting progress over IPC; a
// 'cancel' message aborts the converter.
import type { FromWorker, ToWorker } from './forkInstallWorker';
import { installCheckpoint, precheckCheckpoint } from './installStep';

const controller = new AbortController();
const send = (m: FromWorker) => new Promise<void>((resolve) => process.send!(m, () => resolve()));

process.on('message', (m: ToWorker) => {
  if (m.type === 'cancel') return controller.abort();
  const work =
    m.type === 'precheck'
      ? precheckCheckpoint(m.dir, m.weights, m.maskToken)
      : installCheckpoint(m.job, controller.signal, (progress) => void send({ type: 'progress', progress }));
  work.then(
    async () => {
      await send({ type: 'done' });
      process.exit(0);
    },
    async (e: Error) => {
      await send({ type: 'error', name: e.name, message: e.message });
      process.exit(1);
    },
  );
});
process.on('disconnect', () => controller.abort());
