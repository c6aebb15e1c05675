// Starts the ranks of a distributed test as separate processes with torchrun's variables, and collects their output.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';

/** A TCP port free right now on 127.0.0.1 (the kernel's choice). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface RankRun { rank: number; code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/**
 * Runs `world` ranks of `cmd args` (each with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT); resolves when
 * all ended, or kills them after timeoutMs. argsOf(rank) may vary the arguments and wrap the command (ip netns exec).
 */
export async function runRanks(world: number, argsOf: (rank: number) => string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; masterAddr?: string; port?: number; cmd?: string } = {}): Promise<RankRun[]> {
  const port = opts.port ?? await freePort();
  const children: ChildProcess[] = [];
  const runs = await Promise.all(Array.from({ length: world }, (_, rank) => new Promise<RankRun>((resolve) => {
    const child = spawn(opts.cmd ?? process.execPath, argsOf(rank), {
      env: { ...process.env, ...opts.env, RANK: String(rank), WORLD_SIZE: String(world), LOCAL_RANK: String(rank), MASTER_ADDR: opts.masterAddr ?? '127.0.0.1', MASTER_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let stdout = '', stderr = '';
    child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => { for (const c of children) c.kill('SIGKILL'); }, opts.timeoutMs ?? 60_000);
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ rank, code, signal, stdout, stderr }); });
  })));
  return runs;
}

/** The last line of a rank's stdout as JSON. */
export function lastJson<T = Record<string, unknown>>(r: RankRun): T {
  const lines = r.stdout.trim().split('\n');
  try {
    return JSON.parse(lines[lines.length - 1]!) as T;
  } catch {
    throw new Error(`rank ${r.rank} (exit ${r.code}, signal ${r.signal}) printed no JSON; stderr: ${r.stderr.slice(-2000)}`);
  }
}
