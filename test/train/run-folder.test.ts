// A run folder under fault (issue 18): one process at a time (the lock, finding 2), temp files a killed run left
// (finding 5), hostile state.json fields and checkpoints (findings 3 and 11), and what a non-finite run says.
// Tiny nets on synthetic data; the concurrent cases spawn real processes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { setNumThreads, noGrad } from '../../src/engine/index.js';
import { runTraining, TrainingError, TrainInputError, Trainer, LOG_FILE, type RunOptions } from '../../src/train/trainer.js';
import { defaultTrainOptions, type TrainOptions } from '../../src/train/options.js';
import { loadCheckpoint, STATE_FILE } from '../../src/train/checkpoint.js';
import { acquireRunLock, LOCK_FILE } from '../../src/train/lock.js';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import { makeLearnableBatch, trainingFixture } from '../data/make-cifar.js';
import { repoRoot } from '../helpers/shared.js';

setNumThreads(1);

const main = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
const lockModule = pathToFileURL(path.join(repoRoot(), 'dist', 'src', 'train', 'lock.js')).href;
const { root, data, newDir } = trainingFixture('advexp-run-folder-', 48, 4);
const TINY = ['--depth', '8', '--widths', '4,8,8', '--batch', '16', '--val', '8', '--threads', '1', '--mode', 'standard'];

function opts(partial: Partial<TrainOptions> = {}): TrainOptions {
  return defaultTrainOptions({ data, depth: 8, widths: [4, 8, 8], batch: 16, val: 8, epochs: 1, seed: 1, mode: 'standard', ...partial });
}
async function train(o: TrainOptions, extra: Partial<RunOptions> = {}): Promise<string> {
  const dir = extra.dir ?? newDir();
  await runTraining({ dir, options: o, threads: 1, onNote: () => {}, ...extra });
  return dir;
}

interface Exit { code: number | null; stdout: string; stderr: string }
function cli(args: string[]): Exit {
  const r = spawnSync(process.execPath, [main, 'train', ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
function start(args: string[]): { child: ChildProcess; done: Promise<Exit>; stderr: () => string } {
  const child = spawn(process.execPath, [main, 'train', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  return { child, done: new Promise((res) => child.on('exit', (code) => res({ code, stdout, stderr }))), stderr: () => stderr };
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** A pid no process has: a child that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}
function oneLine2(r: Exit, re: RegExp): void {
  assert.equal(r.code, 2, `exit ${r.code}: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, re);
  assert.doesNotMatch(lines[0]!, /must be of type|is not iterable|Cannot read prop|undefined/);
}
const rewriteState = (dir: string, change: (s: Record<string, unknown>) => void): void => {
  const file = path.join(dir, STATE_FILE);
  const s = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  change(s);
  fs.writeFileSync(file, JSON.stringify(s));
};

// ---- finding 2: the lock ----

test('the lock itself: of 4 processes taking a free lock at the same instant, and then a stale one, exactly one wins', { timeout: 180_000 }, async () => {
  for (const stale of [false, true]) {
    const dir = newDir();
    fs.mkdirSync(dir);
    if (stale) fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid: deadPid(), startTicks: null, host: (await import('node:os')).hostname(), dir: '', acquired: '', token: 'x' }));
    const at = Date.now() + 1500;
    const script = `import { acquireRunLock } from ${JSON.stringify(lockModule)};
      while (Date.now() < ${at}) {}
      try { const l = acquireRunLock(${JSON.stringify(dir)}); console.log('won'); process.stdin.on('end', () => l.release()).resume(); }
      catch (e) { console.log('lost: ' + e.message); }`;
    // The winner holds the lock until every process has answered (its stdin closes then), so a process that a loaded
    // machine starts late still finds the lock taken.
    const kids = Array.from({ length: 4 }, () => spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] }));
    const exited = kids.map((k) => new Promise<void>((res) => k.on('exit', () => res())));
    const outs = await Promise.all(kids.map((k) => new Promise<string>((res) => {
      let out = '';
      k.stdout!.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('\n')) res(out.trim()); });
      k.on('exit', () => res(out.trim()));
    })));
    for (const k of kids) k.stdin!.end();
    await Promise.all(exited);
    assert.equal(outs.filter((o) => o === 'won').length, 1, `${stale ? 'stale' : 'free'} lock: ${outs.join(' | ')}`);
    for (const o of outs.filter((x) => x !== 'won')) assert.match(o, /^lost: .*: in use by another training process \(pid \d+/);
    assert.equal(fs.existsSync(path.join(dir, LOCK_FILE)), false, 'released on exit');
    assert.equal(fs.existsSync(path.join(dir, 'run.lock.takeover')), false);
  }
});

test('finding 2: two fresh `train` runs started at once on one folder: one runs, the other exits 2 naming the folder and the pid', { timeout: 180_000 }, async () => {
  const dir = newDir();
  const a = start(['--data', data, '--out', dir, ...TINY, '--epochs', '40', '--seed', '1', '--quiet']);
  const b = start(['--data', data, '--out', dir, ...TINY, '--epochs', '40', '--seed', '2', '--quiet']);
  // The loser exits at once; then the winner is stopped (SIGTERM: checkpoint, exit 143).
  const first = await Promise.race([a.done.then((r) => ({ r, loser: a, winner: b, seed: 2 })), b.done.then((r) => ({ r, loser: b, winner: a, seed: 1 }))]);
  oneLine2(first.r, new RegExp(`^advexp: ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: (in use by another training process \\(pid ${first.winner.child.pid}, since .*\\)|already holds a training run)`));
  first.winner.child.kill('SIGTERM');
  const w = await first.winner.done;
  assert.ok(w.code === 143 || w.code === 0, `winner: exit ${w.code} ${w.stderr}`);
  const starts = fs.readFileSync(path.join(dir, LOG_FILE), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { event: string }).event).filter((e) => e === 'start');
  assert.equal(starts.length, 1, 'log.jsonl holds one start');
  assert.equal(loadCheckpoint(dir).state.options.seed, first.seed, "state.json is the winner's");
  assert.equal(fs.existsSync(path.join(dir, LOCK_FILE)), false, 'the winner released the lock');

  // Two --resume at once: one exits 2, the other goes on (stopped with SIGTERM again).
  const ra = start(['--resume', dir, '--epochs', '400', '--threads', '1', '--quiet']);
  const rb = start(['--resume', dir, '--epochs', '400', '--threads', '1', '--quiet']);
  const r1 = await Promise.race([ra.done.then((r) => ({ r, winner: rb })), rb.done.then((r) => ({ r, winner: ra }))]);
  oneLine2(r1.r, new RegExp(`: in use by another training process \\(pid ${r1.winner.child.pid}, since `));
  r1.winner.child.kill('SIGTERM');
  assert.equal((await r1.winner.done).code, 143);
  const resumes = fs.readFileSync(path.join(dir, LOG_FILE), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { event: string }).event).filter((e) => e === 'resume');
  assert.equal(resumes.length, 1);
});

test('finding 2: a held folder refuses a run (in-process too); a dead holder\'s lock, a reused pid\'s and a copied one are taken over with a note', async () => {
  const dir = await train(opts());
  // Held by this (live) process: the CLI and a second in-process run are refused.
  const lock = acquireRunLock(dir);
  oneLine2(cli(['--resume', dir, '--epochs', '2', '--threads', '1']), new RegExp(`: in use by another training process \\(pid ${process.pid}, since `));
  await assert.rejects(runTraining({ dir, resume: true, overrides: { epochs: 2 } }), (e: Error) => e instanceof TrainInputError && /in use by another training process/.test(e.message));
  lock.release();
  assert.equal(fs.existsSync(path.join(dir, LOCK_FILE)), false);

  const host = (await import('node:os')).hostname();
  const writeLock = (v: object): void => fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ host, dir: fs.realpathSync(dir), acquired: '2020-01-01', token: 't', ...v }));
  // A dead pid (kill -9'd holder).
  writeLock({ pid: deadPid(), startTicks: null });
  let r = cli(['--resume', dir, '--epochs', '2', '--threads', '1', '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^advexp: note: .*: took over a stale lock \(pid \d+ has exited\)$/m);
  assert.equal(fs.existsSync(path.join(dir, LOCK_FILE)), false);
  // A live pid that is now another process (its start time differs).
  const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
  try {
    writeLock({ pid: sleeper.pid, startTicks: 1 });
    const notes: string[] = [];
    await runTraining({ dir, resume: true, overrides: { epochs: 3 }, threads: 1, onNote: (m) => notes.push(m) });
    if (fs.existsSync(`/proc/${sleeper.pid}/stat`)) assert.match(notes.join('\n'), /took over a stale lock \(pid \d+ is now another process\)/);
  } finally {
    sleeper.kill();
  }
  // A lock copied along with a run folder (the original folder is still there).
  const copy = newDir();
  writeLock({ pid: process.pid, token: 'not-held' });
  fs.cpSync(dir, copy, { recursive: true });
  const notes: string[] = [];
  await runTraining({ dir: copy, resume: true, overrides: { epochs: 4 }, threads: 1, onNote: (m) => notes.push(m) });
  assert.match(notes.join('\n'), /took over a stale lock \(a lock copied with the folder from /);
  // An empty lock file of a crash between creating and writing it: refused while fresh, taken over once old.
  fs.writeFileSync(path.join(dir, LOCK_FILE), '');
  await assert.rejects(runTraining({ dir, resume: true, overrides: { epochs: 4 }, onNote: () => {} }), /locked by another training process that is starting/);
  fs.utimesSync(path.join(dir, LOCK_FILE), new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
  await runTraining({ dir, resume: true, overrides: { epochs: 4 }, threads: 1, onNote: (m) => notes.push(m) });
  assert.match(notes.join('\n'), /an unfinished lock file, left by a crash/);
});

test('finding 2: the lock is released after a normal finish, a bad-input error, a non-finite loss and a second Ctrl-C', { timeout: 180_000 }, async () => {
  const dir = await train(opts());
  assert.equal(fs.existsSync(path.join(dir, LOCK_FILE)), false, 'after a finish');
  const other = path.join(root, 'other.bin');
  fs.writeFileSync(other, makeLearnableBatch(48, 77));
  await assert.rejects(runTraining({ dir, resume: true, overrides: { data: other, epochs: 2 } }), /data differ/);
  assert.equal(fs.existsSync(path.join(dir, LOCK_FILE)), false, 'after a bad-input error');
  const nan = newDir();
  await assert.rejects(train(opts({ lr: 1e30, epochs: 3 }), { dir: nan }), (e: Error) => e instanceof TrainingError);
  assert.equal(fs.existsSync(path.join(nan, LOCK_FILE)), false, 'after a non-finite loss');
  // A fresh run whose data cannot be read leaves no folder behind (nor a lock).
  const never = newDir();
  await assert.rejects(train(opts({ data: path.join(root, 'missing.bin') }), { dir: never }), /missing\.bin/);
  assert.equal(fs.existsSync(never), false);
  // Ctrl-C twice: the second exits at once (process.exit), and the exit handler still releases the lock.
  // Batches of a second or so (a ResNet-20 with the Lipschitz loss), so the second signal comes mid-batch.
  const cdir = newDir();
  const run = start(['--data', data, '--out', cdir, '--depth', '20', '--batch', '40', '--val', '8', '--threads', '1', '--mode', 'lipschitz', '--epochs', '500']);
  for (let i = 0; i < 600 && !fs.existsSync(path.join(cdir, STATE_FILE)); i++) await sleep(50);
  run.child.kill('SIGINT');
  for (let i = 0; i < 600 && !/SIGINT: finishing/.test(run.stderr()); i++) await sleep(10);
  run.child.kill('SIGINT');
  const ex = await run.done;
  assert.equal(ex.code, 130, ex.stderr);
  assert.equal(fs.existsSync(path.join(cdir, LOCK_FILE)), false, 'after a second Ctrl-C');
});

// ---- finding 5: temp files a killed run left ----

test('finding 5: temp files of the run a kill -9 left are removed on resume; others and newer ones are kept', async () => {
  const dir = await train(opts());
  const old = new Date(Date.now() - 3600_000);
  const stale = ['.ckpt-000000003.safetensors.4242.k3j2h1.tmp', '.state.json.4242.abc.tmp', '.model.safetensors.77.z.tmp', '.split.json.9.q.tmp'];
  const kept = ['.notes.txt.4242.abc.tmp', 'ckpt-000000003.safetensors.tmp', '.state.json.tmp', 'mine.tmp', '.log.jsonl.5.a.tmp'];
  for (const f of [...stale, ...kept]) {
    fs.writeFileSync(path.join(dir, f), f.startsWith('.ckpt') ? Buffer.alloc(795) : '');
    fs.utimesSync(path.join(dir, f), old, old);
  }
  const future = '.state.json.4243.new.tmp'; // written after the lock was taken: not this process's to judge
  fs.writeFileSync(path.join(dir, future), '');
  fs.utimesSync(path.join(dir, future), new Date(Date.now() + 3600_000), new Date(Date.now() + 3600_000));
  const notes: string[] = [];
  await runTraining({ dir, resume: true, overrides: { epochs: 2 }, threads: 1, onNote: (m) => notes.push(m) });
  const left = fs.readdirSync(dir);
  for (const f of stale) assert.ok(!left.includes(f), `${f} removed`);
  for (const f of [...kept, future]) assert.ok(left.includes(f), `${f} kept`);
  assert.match(notes.join('\n'), /removed 4 temp files a killed run left/);
  // The CLI says so too, on a fresh run into a folder holding only leftovers.
  const fresh = newDir();
  fs.mkdirSync(fresh);
  fs.writeFileSync(path.join(fresh, '.ckpt-000000000.safetensors.1.a.tmp'), '');
  fs.utimesSync(path.join(fresh, '.ckpt-000000000.safetensors.1.a.tmp'), old, old);
  const r = cli(['--data', data, '--out', fresh, ...TINY, '--epochs', '1', '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /advexp: note: .*removed 1 temp file a killed run left \(\.ckpt-000000000\.safetensors\.1\.a\.tmp\)/);
  assert.deepEqual(fs.readdirSync(fresh).filter((f) => f.endsWith('.tmp')), []);
});

// ---- findings 3 and 11: state.json and checkpoints ----

test('findings 3 and 11: hostile state.json fields give one line naming the file and the field, before anything is built', async () => {
  const dir = await train(opts());
  const file = path.join(dir, STATE_FILE);
  const original = fs.readFileSync(file, 'utf8');
  const cases: [string, (s: Record<string, unknown>) => void, RegExp][] = [
    ['epoch -5', (s) => { s.epoch = -5; }, /field 'epoch': expected an integer ≥ 0, got -5$/],
    ['step 1.5', (s) => { s.step = 1.5; }, /field 'step': expected an integer ≥ 0, got 1\.5$/],
    ['rng null', (s) => { s.rng = null; }, /field 'rng': expected the generator state in base64, got null$/],
    ['rngEpochStart missing mid-epoch', (s) => { s.batchInEpoch = 1; s.rngEpochStart = null; }, /field 'rngEpochStart': expected the epoch's generator state/],
    ['accum a string', (s) => { s.accum = 'x'; }, /field 'accum': expected an object, got "x"$/],
    ['weights a path', (s) => { s.weights = '../../etc/passwd'; }, /field 'weights': expected a file name ckpt-<step>\.safetensors/],
    ['classNames', (s) => { s.classNames = 3; }, /field 'classNames': expected a list of class names, got 3$/],
    ['history valAcc a string', (s) => { (s.history as Record<string, unknown>[])[0]!.valAcc = '0.5'; }, /field 'history\[0\]\.valAcc': expected a number or null, got "0\.5"$/],
    ['options.lr a string', (s) => { (s.options as Record<string, unknown>).lr = '0.1'; }, /field 'options\.lr': expected a number, got "0\.1"$/],
    ['options.widths a string', (s) => { (s.options as Record<string, unknown>).widths = '4,8,8'; }, /field 'options\.widths': expected a list of numbers, got "4,8,8"$/],
    ['options.widths 16.5', (s) => { (s.options as Record<string, unknown>).widths = [16.5, 8, 8]; }, /field 'options\.widths': expected three integers from 1 to 4096, got 16\.5,8,8$/],
    ['options.widths 1e5', (s) => { (s.options as Record<string, unknown>).widths = [1e5, 1e5, 1e5]; }, /field 'options\.widths': expected three integers from 1 to 4096/],
    ['options.depth 120002', (s) => { (s.options as Record<string, unknown>).depth = 120002; }, /field 'options\.depth': expected 6n\+2 from 8 to 6002 .*got 120002$/],
    ['options.activation sigmoid', (s) => { (s.options as Record<string, unknown>).activation = 'sigmoid'; }, /field 'options\.activation': expected relu\|half-huber, got 'sigmoid'$/],
    ['options missing', (s) => { delete s.options; }, /field 'options': expected an object, got nothing$/],
  ];
  for (const [what, change, re] of cases) {
    fs.writeFileSync(file, original);
    rewriteState(dir, change);
    await assert.rejects(runTraining({ dir, resume: true, onNote: () => {} }), (e: Error) => {
      assert.ok(e instanceof TrainInputError, what);
      assert.ok(e.message.startsWith(file), `${what}: ${e.message}`);
      assert.match(e.message, re, what);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
  }
  // Depth and widths within bounds but not the checkpoint's: the tensors say so, naming the first mismatch.
  for (const [change, re] of [
    [{ depth: 602 }, /no tensor 'pipe\.1\.1\.pre\.0\.weight', which the options in .*state\.json \(PreActResNet-602 4\/8\/8 relu, 10 classes, 3 channels\) needs; the file holds 40$/],
    [{ widths: [4, 8, 4096] }, /tensor 'pipe\.3\.0\.main\.0\.weight' has shape \[8,8,3,3\]; the options in .* needs \[4096,8,3,3\]$/],
  ] as const) {
    fs.writeFileSync(file, original);
    rewriteState(dir, (s) => { Object.assign(s.options as object, change); });
    await assert.rejects(runTraining({ dir, resume: true, onNote: () => {} }), (e: Error) => e instanceof TrainInputError && re.test(e.message) && e.message.includes('ckpt-'));
  }
  // The generator state's size and the position in the epoch are checked against the run.
  fs.writeFileSync(file, original);
  rewriteState(dir, (s) => { s.rng = Buffer.from('short').toString('base64'); });
  await assert.rejects(runTraining({ dir, resume: true, onNote: () => {} }), /field 'rng': expected a generator state of \d+ bytes, got 5$/);
  fs.writeFileSync(file, original);
  rewriteState(dir, (s) => { s.batchInEpoch = 99; s.rngEpochStart = s.rng; });
  await assert.rejects(runTraining({ dir, resume: true, onNote: () => {} }), /field 'batchInEpoch': expected fewer than the 3 batches of an epoch, got 99$/);
  // The CLI: exit 2, one line.
  fs.writeFileSync(file, original);
  rewriteState(dir, (s) => { s.epoch = -5; });
  oneLine2(cli(['--resume', dir, '--threads', '1']), /state\.json: field 'epoch': expected an integer ≥ 0, got -5$/);
  fs.writeFileSync(file, original);
  rewriteState(dir, (s) => { (s.options as Record<string, unknown>).depth = 120002; });
  oneLine2(cli(['--resume', dir, '--threads', '1']), /state\.json: field 'options\.depth'/);
  fs.writeFileSync(file, original);
});

test('finding 11: a checkpoint with NaN weights or momentum, or an I32 tensor, is not resumed', async () => {
  const dir = await train(opts({ epochs: 1 }));
  const ck = loadCheckpoint(dir);
  const wfile = path.join(dir, ck.state.weights);
  const good = readSafetensors(wfile);
  const edit = (name: string, f: (t: Float32Array) => void): void => {
    const st = readSafetensors(wfile);
    f(st.tensors.get(name)!.data as Float32Array);
    writeSafetensors(wfile, st.tensors, st.metadata);
  };
  edit('pipe.2.0.main.0.weight', (t) => { t[3] = NaN; });
  await assert.rejects(runTraining({ dir, resume: true, overrides: { epochs: 2 }, onNote: () => {} }), (e: Error) =>
    e instanceof TrainInputError && e.message.startsWith(wfile) && /tensor 'pipe\.2\.0\.main\.0\.weight' holds NaN \(element 3\): weights must be finite numbers$/.test(e.message));
  writeSafetensors(wfile, good.tensors, good.metadata);
  edit('optimizer.momentum.pipe.0.weight', (t) => { t[0] = -Infinity; });
  await assert.rejects(runTraining({ dir, resume: true, overrides: { epochs: 2 }, onNote: () => {} }), /momentum 'optimizer\.momentum\.pipe\.0\.weight' holds -Infinity: the checkpoint cannot be resumed$/);
  const st = readSafetensors(wfile);
  st.tensors.set('pipe.0.weight', { dtype: 'I32', shape: st.tensors.get('pipe.0.weight')!.shape, data: new Int32Array(4 * 3 * 9) });
  writeSafetensors(wfile, st.tensors, st.metadata);
  await assert.rejects(runTraining({ dir, resume: true, overrides: { epochs: 2 }, onNote: () => {} }), /tensor 'pipe\.0\.weight' is I32; a model's tensors must be floating point/);
  writeSafetensors(wfile, good.tensors, good.metadata);
  // Finite, but huge: the first step from it diverges. Said as such, not blamed on a --lr that cannot change.
  edit('pipe.7.weight', (t) => { t.fill(3e38); });
  await assert.rejects(runTraining({ dir, resume: true, overrides: { epochs: 2 }, threads: 1, onNote: () => {} }), (e: Error) => {
    assert.ok(e instanceof TrainingError, e.message);
    assert.match(e.message, /non-finite loss \(\S+\) at epoch 2 batch 1 \(step 4\); stopped\. It is the first step from the checkpoint this run resumed \(epoch 1, step 3, kept unchanged in .*\): its weights are finite, yet it leads straight to a non-finite loss, and resuming it again will too/);
    assert.doesNotMatch(e.message, /last good|try a lower --lr/);
    return true;
  });
  assert.equal(loadCheckpoint(dir).state.step, 3, 'the checkpoint is unchanged');
});

test('finding 11: weights that became non-finite (an overflowing gradient, every loss finite) are never checkpointed', () => {
  const dir = newDir();
  const t = Trainer.setup({ dir, options: opts(), threads: 1, onNote: () => {} });
  try {
    t.start();
    noGrad(() => t.model.parameters()[3]!.fill_(Infinity));
    assert.throws(() => t.checkpoint({ epoch: 0, batchInEpoch: 1, accum: t.state.accum, rngEpochStart: t.state.rng }, 0), (e: Error) => {
      assert.ok(e instanceof TrainingError, e.message);
      assert.match(e.message, /^pipe\.\S+ became Infinity by step 0 though every loss was finite; stopped without writing a checkpoint\. The last checkpoint \(epoch 0, step 0, finite\) is kept in /);
      return true;
    });
  } finally {
    t.dispose();
  }
  const ck = loadCheckpoint(dir); // still the step-0 checkpoint, finite and resumable
  assert.equal(ck.state.batchInEpoch, 0);
  Trainer.setup({ dir, resume: true, threads: 1, onNote: () => {} }).dispose();
});
