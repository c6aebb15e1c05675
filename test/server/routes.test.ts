// Each server piece on a bare Fastify instance with a context of its own: a route module answers without the rest of
// the server, and the guards apply to whatever routes an instance has.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import fs from 'node:fs';
import Fastify from 'fastify';
import multipart from '@fastify/multipart';
import { loadModel } from '../../src/io/model-file.js';
import { setNumThreads } from '../../src/engine/index.js';
import { serverContext, type ServerContext } from '../../src/server/context.js';
import { registerGuards, LOOPBACK_HOSTS } from '../../src/server/guards.js';
import { registerDataRoutes } from '../../src/server/routes/data.js';
import { registerPredictRoute } from '../../src/server/routes/predict.js';
import type { PredictResponse, RecordsResponse } from '../../src/server/index.js';
import { tmpDir, tinyModel, cifarFile } from './fixtures.js';

setNumThreads(1);
const tmp = tmpDir('advexp-serve-routes-');
const modelFile = tinyModel(path.join(tmp, 'tiny.safetensors'), 1);
const data = cifarFile(path.join(tmp, 'batch.bin'), 12);
const contexts: ServerContext[] = [];
const context = (): ServerContext => {
  const ctx = serverContext({ models: [{ model: loadModel(modelFile) }], data, webRoot: null });
  contexts.push(ctx);
  return ctx;
};
after(() => {
  for (const c of contexts) c.models.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('the data routes alone: the file and a page of records; nothing else is routed', async () => {
  const app = Fastify();
  registerDataRoutes(app, context());
  const info = (await app.inject({ url: '/api/data' })).json() as { available: boolean; records: number };
  assert.deepEqual([info.available, info.records], [true, 12]);
  const page = await app.inject({ url: '/api/data/records?offset=10&limit=5' });
  assert.equal(page.statusCode, 200);
  const j = page.json() as RecordsResponse;
  assert.deepEqual(j.records.map((r) => r.index), [10, 11]);
  assert.equal((await app.inject({ url: '/api/models' })).statusCode, 404);
  await app.close();
});

test('the predict route alone: a CIFAR record classified through the context\'s queue', async () => {
  const ctx = context();
  const app = Fastify();
  await app.register(multipart);
  registerPredictRoute(app, ctx);
  const r = await app.inject({ method: 'POST', url: '/api/predict', payload: { record: 3 } });
  assert.equal(r.statusCode, 200, r.body);
  const j = r.json() as PredictResponse;
  assert.equal(j.input.label, 3);
  assert.equal(j.probabilities.length, 10);
  assert.equal(ctx.queue.completed, 1);
  await app.close();
});

test('the guards alone, around any route: Host checked, JSON errors, security headers', async () => {
  const app = Fastify();
  registerGuards(app, context(), LOOPBACK_HOSTS);
  app.get('/api/ping', async () => ({ ok: true }));
  const ok = await app.inject({ url: '/api/ping', headers: { host: '127.0.0.1:8080' } });
  assert.equal(ok.statusCode, 200);
  assert.equal(ok.headers['x-content-type-options'], 'nosniff');
  assert.equal(ok.headers['cache-control'], 'no-store');
  const evil = await app.inject({ url: '/api/ping', headers: { host: 'evil.example:8080' } });
  assert.equal(evil.statusCode, 403);
  assert.match((evil.json() as { error: string }).error, /host 'evil\.example:8080' is not accepted/);
  const none = await app.inject({ url: '/api/nope', headers: { host: 'localhost' } });
  assert.deepEqual(none.json(), { error: 'no such API route: GET /api/nope', statusCode: 404 });
  await app.close();
});
