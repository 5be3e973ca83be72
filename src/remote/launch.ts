// Starts the team server (serve/main.py, `npm run serve`) on 127.0.0.1 for the tests, the load test and the parity
// check, and stops it: gently (SIGTERM: Ray Serve and the local Ray cluster shut down), or at once with every process
// of its tree (SIGKILL: the server dying mid-request). Ray's workers run in sessions of their own under the raylet, so
// a process group kill would miss them; the tree is read from ps.
import { spawn, execFileSync } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

export interface LaunchedServer {
  url: string;
  pid: number;
  /** SIGKILL to the server and every process under it (its Ray cluster and workers). */
  kill(): void;
  /** SIGTERM, then whatever is left after `graceMs` is killed. */
  stop(graceMs?: number): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function tree(root: number): number[] {
  let table: string;
  try {
    table = execFileSync('ps', ['-eo', 'pid=,ppid='], { encoding: 'utf8' });
  } catch {
    return [root];
  }
  const children = new Map<number, number[]>();
  for (const line of table.split('\n')) {
    const [pid, ppid] = line.trim().split(/\s+/).map(Number);
    if (pid && ppid !== undefined) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  }
  const all: number[] = [];
  const visit = (p: number) => {
    all.push(p);
    for (const c of children.get(p) ?? []) visit(c);
  };
  visit(root);
  return all;
}

export async function launchServer(o: { modelDir: string; token: string; port?: number; args?: string[]; readyTimeoutMs?: number }): Promise<LaunchedServer> {
  const port = o.port ?? (await freePort());
  const child = spawn('python3', [path.join(ROOT, 'serve', 'main.py'), '--model', o.modelDir, '--port', String(port), ...(o.args ?? [])], {
    env: { ...process.env, UNMASK_SERVER_TOKEN: o.token },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const pid = child.pid!;
  const killTree = () => {
    for (const p of tree(pid).reverse()) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  };
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      killTree();
      reject(new Error(`the team server did not start within ${o.readyTimeoutMs ?? 120_000} ms: ${stderr.slice(-1500)}`));
    }, o.readyTimeoutMs ?? 120_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (/^ready /m.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the team server exited (${code}) before it was ready: ${stderr.slice(-1500)}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid,
    kill: killTree,
    stop: async (graceMs = 20_000) => {
      const pids = tree(pid);
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs))]);
      for (const p of pids) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // gone already
        }
      }
    },
  };
}
