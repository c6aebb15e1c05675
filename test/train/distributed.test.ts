// Data-parallel training with two local ranks (advexp train --nproc 2): a run of two epochs, against the same run
// stopped after one epoch and resumed, bit for bit (weights, momentum, ψ, every rank's generator); a rank killed
// mid-run ends the other with an error naming it, and the run resumes from its last checkpoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { repoRoot } from '../helpers/shared.js';
import { freePort } from '../helpers/dist.js';
import { trainingFixture } from '../data/make-cifar.js';
import { readSafetensors } from '../../src/io/safetensors.js';

const main = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
const fx = trainingFixture('advexp-dist-train-', 40, 3);
const TINY = ['--depth', '8', '--widths', '4,8,16', '--batch', '16', '--val', '8', '--threads', '1', '--mode', 'lipschitz', '--checkpoint-minutes', '0', '--quiet'];

async function train(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const port = await freePort();
  const r = spawnSync(process.execPath, [main, 'train', ...args, '--nproc', '2', '--master-port', String(port), '--dist-timeout', '20'], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const state = (dir: string): Record<string, unknown> => JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as Record<string, unknown>;

test('2 ranks: one epoch, checkpoint, resume = two epochs in one go, bit for bit', async () => {
  const full = fx.newDir(), split = fx.newDir();
  const a = await train(['--data', fx.data, '--out', full, ...TINY, '--epochs', '2']);
  assert.equal(a.code, 0, a.stderr);
  const b1 = await train(['--data', fx.data, '--out', split, ...TINY, '--epochs', '1']);
  assert.equal(b1.code, 0, b1.stderr);
  assert.equal(state(split).epoch, 1);
  const b2 = await train(['--resume', split, '--epochs', '2', '--quiet']);
  assert.equal(b2.code, 0, b2.stderr);
  const sa = state(full), sb = state(split);
  assert.equal(sa.step, 4);
  assert.deepEqual(sb.ranks, sa.ranks, 'every rank\'s generator state');
  assert.equal(sb.psiR, sa.psiR);
  assert.equal((sa.ranks as { world: number }).world, 2);
  assert.ok(fs.readFileSync(path.join(full, String(sa.weights))).equals(fs.readFileSync(path.join(split, String(sb.weights)))), 'checkpoint (weights + momentum) differs');
  // The model file's tensors (its metadata holds the run's options, whose key order a resume may change).
  const ma = readSafetensors(path.join(full, 'model.safetensors')), mb = readSafetensors(path.join(split, 'model.safetensors'));
  assert.deepEqual([...mb.tensors.keys()], [...ma.tensors.keys()]);
  for (const [name, t] of ma.tensors) assert.deepEqual(mb.tensors.get(name)!.data, t.data, `model tensor ${name} differs`);
  // Rank 0 alone wrote the folder: one log, no rank-1 files.
  assert.ok(!fs.readdirSync(full).some((f) => f.endsWith('.tmp')));
});

// No clock assertion on how fast rank 0 ends (it waits out --dist-timeout 20 at most): a hang fails by the runner's timeout.
test('a rank killed mid-run ends the other with an error naming it; the run resumes from its checkpoint', { timeout: 180_000 }, async () => {
  const dir = fx.newDir();
  const port = await freePort();
  const env = { ...process.env, WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) };
  const args = [main, 'train', '--data', fx.data, '--out', dir, ...TINY, '--epochs', '400', '--log-every', '1', '--dist-timeout', '20'];
  const ranks = [0, 1].map((r) => spawn(process.execPath, args, { env: { ...env, RANK: String(r), LOCAL_RANK: String(r) }, stdio: ['ignore', 'pipe', 'pipe'] }));
  let err0 = '';
  ranks[0]!.stderr!.on('data', (d: Buffer) => { err0 += d.toString(); });
  const ended = ranks.map((c) => new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => c.on('close', (code, signal) => res({ code, signal }))));
  // Kill rank 1 once the run has passed its first epoch's checkpoint.
  const log = path.join(dir, 'log.jsonl');
  const t0 = Date.now();
  let epochSeen = false;
  while (!epochSeen && Date.now() - t0 < 60_000) {
    await new Promise((r) => setTimeout(r, 200));
    epochSeen = fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('"event":"epoch"');
  }
  ranks[1]!.kill('SIGKILL');
  assert.ok(epochSeen, `no epoch logged within 60 s; rank 0 said: ${err0.trim().split('\n').pop()}`);
  const [r0, r1] = await Promise.all(ended);
  assert.equal(r1!.signal, 'SIGKILL');
  assert.equal(r0!.code, 1, err0);
  const line = err0.trim().split('\n').pop()!;
  assert.match(line, /^advexp: rank 0 of 2: (allreduce|broadcast|allgather) failed: .*rank 1 did not answer \(dead, hung or unreachable\)/);
  const at = state(dir).step as number;
  assert.ok(at >= 2, `checkpoint at step ${at}`);
  // Re-launching resumes from the last checkpoint.
  const again = await train(['--resume', dir, '--epochs', String(at / 2 + 1), '--quiet']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(state(dir).step, at + 2);
});
