// The job queue on its own: order, one job at a time, the length limit, clients that leave, shutdown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JobQueue, HttpError, ClientGoneError } from '../../src/server/index.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('jobs run one at a time in arrival order', async () => {
  const q = new JobQueue(8);
  const log: string[] = [];
  let active = 0;
  const job = (name: string) => async (): Promise<string> => {
    active++;
    assert.equal(active, 1, 'never two at once');
    log.push(`start ${name}`);
    await tick(); await tick();
    log.push(`end ${name}`);
    active--;
    return name;
  };
  const out = await Promise.all(['a', 'b', 'c'].map((n) => q.run(job(n))));
  assert.deepEqual(out, ['a', 'b', 'c']);
  assert.deepEqual(log, ['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  assert.equal(q.completed, 3);
  await q.idle();
});

test('a failing job rejects its caller only; the next one runs', async () => {
  const q = new JobQueue(4);
  const a = q.run(() => { throw new Error('boom'); });
  const b = q.run(() => 42);
  await assert.rejects(a, /boom/);
  assert.equal(await b, 42);
});

test('the line has a length: beyond it 503 with Retry-After', async () => {
  const q = new JobQueue(1);
  let release!: () => void;
  const running = q.run(() => new Promise<void>((r) => { release = r; }));
  const waiting = q.run(() => 'second');
  await assert.rejects(q.run(() => 'third'), (e: unknown) => e instanceof HttpError && e.statusCode === 503 && e.headers['retry-after'] === '2');
  release();
  await running;
  assert.equal(await waiting, 'second');
});

test('a client that leaves: dropped before its turn, stopped at the next checkpoint while running', async () => {
  const q = new JobQueue(4);
  let release!: () => void;
  const first = q.run(() => new Promise<void>((r) => { release = r; }));
  const ctrl = new AbortController();
  let ran = false;
  const gone = q.run(() => { ran = true; }, ctrl.signal);
  assert.equal(q.waiting, 1);
  ctrl.abort();
  await assert.rejects(gone, ClientGoneError);
  assert.equal(q.waiting, 0);
  release();
  await first;
  assert.equal(ran, false);

  const ctrl2 = new AbortController();
  let phases = 0;
  const job = q.run(async (ctx) => {
    phases++;
    ctrl2.abort();
    await ctx.checkpoint();
    phases++;
  }, ctrl2.signal);
  await assert.rejects(job, ClientGoneError);
  assert.equal(phases, 1);
  const pre = new AbortController();
  pre.abort();
  await assert.rejects(q.run(() => 1, pre.signal), ClientGoneError);
});

test('close(): waiting jobs get 503, the running one finishes, new ones are refused', async () => {
  const q = new JobQueue(4);
  let release!: () => void;
  const running = q.run(() => new Promise<string>((r) => { release = () => r('done'); }));
  const waiting = q.run(() => 'never');
  q.close();
  await assert.rejects(waiting, (e: unknown) => e instanceof HttpError && e.statusCode === 503 && /shutting down/.test(e.message));
  await assert.rejects(q.run(() => 1), (e: unknown) => e instanceof HttpError && e.statusCode === 503);
  const idle = q.idle();
  release();
  assert.equal(await running, 'done');
  await idle;
});
