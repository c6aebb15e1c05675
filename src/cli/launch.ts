// Distributed runs of a command (train, eval, explain-eval), torchrun's way: `--nproc N` starts N local ranks of
// the same command (--nproc-per-node), `--nnodes`/`--node-rank`/`--master-addr`/`--master-port` spread them over
// machines (the same command on each, its own --node-rank), or a launcher (torchrun, Slurm, Kubernetes) sets
// RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT/LOCAL_RANK and starts the ranks itself. The launcher process here only
// starts, watches and stops its ranks; the ranks join one c10d process group (engine/distributed.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { intArg } from './args.js';
import { UserError } from './errors.js';
import { ProcessGroup, distributedFromEnv, type Backend, type DistributedOptions } from '../engine/index.js';

/** The flags every distributed-capable command takes (parse() specs). */
export const DIST_FLAGS = {
  nproc: { type: 'string' }, nnodes: { type: 'string' }, 'node-rank': { type: 'string' }, 'master-addr': { type: 'string' },
  'master-port': { type: 'string' }, iface: { type: 'string' }, 'dist-timeout': { type: 'string' }, backend: { type: 'string' },
} as const;

export const DIST_HELP = `distributed (torch.distributed's c10d, Gloo on CPU; README "Running on a cluster"):
  --nproc N             start N ranks on this machine (torchrun's --nproc-per-node); --threads is per rank
                        (default: the cores divided among the ranks)
  --nnodes M            machines taking part (default 1); run the same command on each with its own --node-rank
  --node-rank R         this machine's index, 0 … M−1 (0 hosts the rendezvous)
  --master-addr A       node 0's address (default 127.0.0.1)   --master-port P (default 29500)
  --iface NAME          the network interface Gloo uses (GLOO_SOCKET_IFNAME); needed across machines when the
                        host name resolves to a loopback address
  --dist-timeout S      a rank that does not answer for S seconds ends the run with an error naming it (default 300)
  --backend B           gloo (default) or nccl (a CUDA libtorch)
  Under a launcher that sets RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (torchrun, Slurm), run the command without
  --nproc: it joins as that rank.`;

export type DistValues = { [K in keyof typeof DIST_FLAGS]?: string | undefined };

const LAUNCH_ONLY = ['nproc', 'nnodes', 'node-rank', 'master-addr', 'master-port'];

/** argv without the launcher's own flags (the ranks get them as environment variables). */
function rankArgv(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.startsWith('--') ? a.slice(2).split('=')[0]! : '';
    if (LAUNCH_ONLY.includes(name)) {
      if (!a.includes('=')) i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

/** What this process is in a distributed command: a launcher (its ranks ran), a rank, or a plain single process. */
export type Role = { kind: 'launched'; exitCode: number } | { kind: 'rank'; pg: ProcessGroup; perRankThreads: number } | { kind: 'single' };

/**
 * Starts the ranks (with --nproc/--nnodes), joins the group (under RANK/WORLD_SIZE), or returns 'single'.
 * `command` is the subcommand name (the ranks run `advexp command argv…`).
 */
export async function launchOrJoin(command: string, argv: string[], v: DistValues): Promise<Role> {
  const backend = (v.backend ?? 'gloo') as Backend;
  if (backend !== 'gloo' && backend !== 'nccl') throw new UserError(`--backend: expected gloo or nccl, got '${v.backend}'`);
  const timeoutS = intArg(v['dist-timeout'], 'dist-timeout', 300, 1);
  let env: DistributedOptions | null;
  try {
    env = distributedFromEnv();
  } catch (e) {
    throw new UserError((e as Error).message);
  }
  if (env !== null) {
    if (v.nproc !== undefined || v.nnodes !== undefined) throw new UserError('--nproc/--nnodes: this process is already a rank (WORLD_SIZE is set): run it without them');
    const localWorld = Number(process.env.LOCAL_WORLD_SIZE ?? process.env.ADVEXP_LOCAL_WORLD ?? 1) || 1;
    const o: DistributedOptions = { ...env, backend, timeoutMs: env.timeoutMs ?? timeoutS * 1000 };
    if (v.iface !== undefined) o.iface = v.iface;
    const pg = await ProcessGroup.init(o);
    return { kind: 'rank', pg, perRankThreads: Math.max(1, Math.floor(os.availableParallelism() / localWorld)) };
  }
  const nproc = intArg(v.nproc, 'nproc', 1, 1);
  const nnodes = intArg(v.nnodes, 'nnodes', 1, 1);
  const nodeRank = intArg(v['node-rank'], 'node-rank', 0, 0);
  if (nodeRank >= nnodes) throw new UserError(`--node-rank ${nodeRank}: must be below --nnodes ${nnodes}`);
  const port = intArg(v['master-port'], 'master-port', 29500, 1);
  if (port > 65535) throw new UserError(`--master-port: expected a port ≤ 65535, got '${v['master-port']}'`);
  if (nproc * nnodes === 1) {
    if (v['node-rank'] !== undefined || v['master-addr'] !== undefined || v['master-port'] !== undefined) {
      throw new UserError('--node-rank/--master-addr/--master-port need --nproc N or --nnodes M above 1');
    }
    return { kind: 'single' };
  }
  return { kind: 'launched', exitCode: await launch(command, argv, { nproc, nnodes, nodeRank, port, addr: v['master-addr'] ?? '127.0.0.1', timeoutS }) };
}

/**
 * Runs this machine's ranks to their end. When one fails, the others end by themselves within the timeout (their
 * collectives fail naming it); whatever still runs after that, plus a grace period, is stopped. Returns the exit
 * code: 0, or the first failing rank's.
 */
function launch(command: string, argv: string[], o: { nproc: number; nnodes: number; nodeRank: number; port: number; addr: string; timeoutS: number }): Promise<number> {
  const world = o.nproc * o.nnodes;
  const script = process.argv[1]!;
  const children: ChildProcess[] = [];
  let firstFailure: { rank: number; code: number } | null = null;
  let running = o.nproc;
  return new Promise((resolve) => {
    const forward = (s: NodeJS.Signals): void => { for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(s); };
    // Ctrl-C / SIGTERM go to every rank (each checkpoints and exits); their exit codes are then no failure to report.
    let signalled = false;
    const onInt = (): void => { signalled = true; forward('SIGINT'); };
    const onTerm = (): void => { signalled = true; forward('SIGTERM'); };
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    let killTimer: NodeJS.Timeout | null = null;
    const finish = (): void => {
      if (killTimer !== null) clearTimeout(killTimer);
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(firstFailure === null ? 0 : (firstFailure as { code: number }).code || 1);
    };
    for (let local = 0; local < o.nproc; local++) {
      const rank = o.nodeRank * o.nproc + local;
      const child = spawn(process.execPath, [...process.execArgv, script, command, ...rankArgv(argv)], {
        stdio: 'inherit',
        env: {
          ...process.env, RANK: String(rank), WORLD_SIZE: String(world), LOCAL_RANK: String(local), LOCAL_WORLD_SIZE: String(o.nproc),
          MASTER_ADDR: o.addr, MASTER_PORT: String(o.port),
        },
      });
      children.push(child);
      child.on('exit', (code, signal) => {
        running--;
        const failed = signal !== null || code !== 0;
        if (failed && firstFailure === null) {
          firstFailure = { rank, code: code ?? 1 };
          if (signalled) return void (running === 0 && finish());
          process.stderr.write(`advexp: rank ${rank} (pid ${child.pid}) ${signal !== null ? `was killed by ${signal}` : `exited with code ${code}`}; ` +
            `the other ranks stop within ${o.timeoutS} s\n`);
          killTimer = setTimeout(() => forward('SIGKILL'), (o.timeoutS + 30) * 1000);
          killTimer.unref();
        }
        if (running === 0) finish();
      });
    }
  });
}
