// advexp's HTTP server: the JSON API under /api/ and the built page. Fastify does the HTTP; this file wires the
// routes to the models, the job queue and the explainers, and keeps the safety rules in one place:
//  - uploads are capped (413) and only real PNG/JPEG pictures are decoded (anything else: 400);
//  - nothing a client sends becomes a file path: models, records and results are addressed by server-made ids;
//  - engine work runs one job at a time through the queue, each job bounded by the parameter limits;
//  - every error is a JSON { error, statusCode } and never takes the server down;
//  - when bound to loopback, requests must name a loopback host (no DNS rebinding) and come from the same origin.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import fs from 'node:fs';
import path from 'node:path';
import type { LoadedModel } from '../io/model-file.js';
import { readCifarBatch, CIFAR_RECORD_BYTES } from '../data/cifar.js';
import { ClientGoneError, HttpError, badRequest, notFound } from './errors.js';
import { JobQueue, type JobContext } from './queue.js';
import { ModelRegistry, type ServedModel } from './models.js';
import { ResultsStore, RESULT_TYPES } from './results.js';
import { loadStaticFiles, type StaticFile } from './static.js';
import { checkImage, imageToInput, chwToDataUrl, deltaToDataUrl, overlayDataUrl, MAX_PIXELS, MAX_SIDE } from './images.js';
import {
  methodInfo, isAvailable, probabilities, adversarialExplanations, mapExplanation, AE_DEFAULTS, type MethodName, type AeTarget,
} from './explainers.js';
import { readRequest, intField, numField, methodsField, targetsField, type RawRequest } from './requests.js';
import type {
  ApiError, ClassProbability, DataInfo, ExplainResponse, InputJson, MapJson, MethodsResponse, ModelsResponse,
  PredictResponse, RecordsResponse, ResultsResponse,
} from './api-types.js';

export interface ServerOptions {
  /** Models in page order; the one flagged default (else the first) is selected at start. */
  models: { model: LoadedModel; default?: boolean }[];
  /** A CIFAR-10 binary batch whose records the page can browse (server-side path; never sent to clients). */
  data?: string | null;
  /** Folders holding `advexp eval` outputs (JSON, PNG/SVG plots). */
  results?: string[];
  /** The built page (dist/web); null or missing: API only. */
  webRoot?: string | null;
  /** Upload cap in bytes (default 5 MB). */
  maxUploadBytes?: number;
  /** Requests allowed to wait for the engine (default 16); more get 503. */
  maxQueue?: number;
  /** Host names accepted in the Host header; null accepts any (when bound to a public address). */
  allowedHosts?: readonly string[] | null;
  /** One line per API request and every server error (default: none). */
  log?: (line: string) => void;
}

export const DEFAULT_MAX_UPLOAD = 5 * 1024 * 1024;
export const LIMITS = {
  rho: [0.001, 1] as [number, number],
  steps: [1, 200] as [number, number],
  overshoot: [0.1, 20] as [number, number],
  limeSamples: [10, 2000] as [number, number],
  seed: [0, 2 ** 31 - 1] as [number, number],
  recordsPage: 100,
};
const LIME_DEFAULTS = { samples: 500, seed: 0 };
/** AE targets per engine call between event-loop turns. */
const AE_CHUNK = 5;
export const LOOPBACK_HOSTS: readonly string[] = ['localhost', '127.0.0.1', '[::1]', '::1'];

export interface AdvexpServer {
  app: FastifyInstance;
  queue: JobQueue;
  models: ModelRegistry;
  /** Stops taking requests, refuses waiting jobs, lets the running one finish, frees the models. */
  close(): Promise<void>;
}

interface Input { chw: Float32Array; json: InputJson }

const CSP = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; "
  + "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** What a client may read of an error thrown by Fastify, a plugin or our code. */
function describeError(err: unknown, maxUpload: number): { status: number; message: string; headers: Record<string, string> } {
  if (err instanceof HttpError) return { status: err.statusCode, message: err.message, headers: err.headers };
  const e = err as { code?: string; statusCode?: number; message?: string };
  const mb = `${(maxUpload / 1048576).toFixed(maxUpload % 1048576 === 0 ? 0 : 1)} MB`;
  switch (e.code) {
    case 'FST_REQ_FILE_TOO_LARGE':
      return { status: 413, message: `the upload is larger than the ${mb} limit`, headers: {} };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, message: "the JSON body is too large (upload images as multipart/form-data in field 'image')", headers: {} };
    case 'FST_FILES_LIMIT': return { status: 400, message: "only one file may be uploaded (field 'image')", headers: {} };
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT': return { status: 400, message: 'too many form fields', headers: {} };
    case 'FST_PROTO_VIOLATION': return { status: 400, message: 'forbidden field name', headers: {} };
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE': return { status: 400, message: 'the request is not a multipart form', headers: {} };
    case 'FST_MP_PREMATURE_CLOSE': return { status: 400, message: 'the upload ended early', headers: {} };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, message: 'send multipart/form-data (with an image) or application/json', headers: {} };
    default: break;
  }
  const status = typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 600 ? e.statusCode : 500;
  if (status < 500) return { status, message: String(e.message ?? 'bad request').split('\n')[0]!, headers: {} };
  return { status, message: `internal error: ${String(e.message ?? err).split('\n')[0]}`, headers: {} };
}

/** The Host header's name without the port ("[::1]" kept in brackets). */
function hostName(host: string | undefined): string {
  if (host === undefined) return '';
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const i = h.lastIndexOf(':');
  return i >= 0 ? h.slice(0, i) : h;
}

export async function createServer(opts: ServerOptions): Promise<AdvexpServer> {
  const maxUpload = opts.maxUploadBytes ?? DEFAULT_MAX_UPLOAD;
  const log = opts.log ?? ((): void => {});
  const queue = new JobQueue(opts.maxQueue ?? 16);
  const allowedHosts = opts.allowedHosts === undefined ? LOOPBACK_HOSTS : opts.allowedHosts;

  // Data: checked once here (a bad file is an error at start, not at the first click).
  let data: { file: string; total: number; classNames: string[] } | null = null;
  if (opts.data != null) {
    const first = readCifarBatch(opts.data, { limit: 1 });
    const total = fs.statSync(opts.data).size / CIFAR_RECORD_BYTES;
    data = { file: opts.data, total, classNames: first.classNames ?? [] };
  }
  const models = new ModelRegistry(opts.models, data?.classNames ?? null);
  const results = new ResultsStore(opts.results ?? []);
  const web = loadStaticFiles(opts.webRoot ?? null);

  const app = Fastify({
    logger: false,
    bodyLimit: 64 * 1024,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    routerOptions: { maxParamLength: 100 },
  });
  app.removeContentTypeParser('text/plain');
  await app.register(multipart, { throwFileSizeLimit: true, limits: { fileSize: maxUpload, files: 1 } });

  // ---- guards on every request ----
  app.addHook('onRequest', async (req, reply) => {
    (req as FastifyRequest & { t0: number }).t0 = performance.now();
    if (allowedHosts !== null && !allowedHosts.includes(hostName(req.headers.host))) {
      throw new HttpError(403, `host '${String(req.headers.host ?? '').slice(0, 80)}' is not accepted (the server answers only to ${allowedHosts.filter((h) => h !== '::1').join(', ')})`);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      const origin = req.headers.origin;
      if (origin !== undefined && origin !== 'null') {
        let ok = false;
        try { ok = new URL(origin).host.toLowerCase() === String(req.headers.host ?? '').toLowerCase(); } catch { ok = false; }
        if (!ok) throw new HttpError(403, 'cross-origin requests are not accepted');
      }
      const len = Number(req.headers['content-length']);
      if (Number.isFinite(len) && len > maxUpload + 64 * 1024) {
        reply.header('connection', 'close');
        throw new HttpError(413, `the upload is larger than the ${(maxUpload / 1048576).toFixed(maxUpload % 1048576 === 0 ? 0 : 1)} MB limit`);
      }
    }
  });

  // Once closing, every answer ends its connection: a keep-alive socket that was busy when close() began would
  // otherwise hold the server open until its idle timeout.
  let closingDown = false;
  app.addHook('onSend', async (req, reply, payload) => {
    if (closingDown) reply.header('connection', 'close');
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-frame-options', 'DENY');
    reply.header('cross-origin-resource-policy', 'same-origin');
    if (req.url.startsWith('/api/')) {
      if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
      if (String(reply.getHeader('content-type') ?? '').startsWith('image/svg')) reply.header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'");
    } else {
      reply.header('content-security-policy', CSP);
    }
    return payload;
  });

  app.addHook('onResponse', async (req, reply) => {
    if (!req.url.startsWith('/api/') || (req.method === 'GET' && reply.statusCode < 400)) return;
    const t0 = (req as FastifyRequest & { t0?: number }).t0 ?? performance.now();
    log(`${req.method} ${req.url.split('?')[0]} ${reply.statusCode} ${Math.round(performance.now() - t0)} ms`);
  });

  app.addHook('onRequestAbort', async (req) => {
    if (req.url.startsWith('/api/')) log(`${req.method} ${req.url.split('?')[0]} cancelled by the client`);
  });

  app.setErrorHandler((err, req, reply) => {
    if (err instanceof ClientGoneError) {
      // Nobody is listening; end quietly.
      if (!reply.sent) reply.code(499).send({ error: err.message, statusCode: 499 } satisfies ApiError);
      return;
    }
    const { status, message, headers } = describeError(err, maxUpload);
    if (status >= 500 && !(err instanceof HttpError)) log(`error on ${req.method} ${req.url.split('?')[0]}: ${(err as Error).stack ?? String(err)}`);
    void reply.code(status).headers(headers).send({ error: message, statusCode: status } satisfies ApiError);
  });

  app.setNotFoundHandler((req, reply) => {
    const p = req.url.split('?')[0]!;
    if (p.startsWith('/api/')) {
      void reply.code(404).send({ error: `no such API route: ${req.method} ${p.slice(0, 100)}`, statusCode: 404 } satisfies ApiError);
    } else {
      void reply.code(404).type('text/plain; charset=utf-8').send('not found\n');
    }
  });

  app.addHook('preClose', async () => { closingDown = true; queue.close(); });

  // ---- helpers ----
  /** Aborts when the client goes away before its answer is written. */
  const clientSignal = (reply: FastifyReply): AbortSignal => {
    const ctrl = new AbortController();
    reply.raw.once('close', () => { if (!reply.raw.writableFinished) ctrl.abort(); });
    return ctrl.signal;
  };

  const pickModel = (raw: RawRequest): ServedModel => {
    const id = raw.fields.get('model');
    const m = models.get(id === undefined || id.trim() === '' ? undefined : id.trim());
    if (m === undefined) throw badRequest(`unknown model '${String(id).slice(0, 60)}' (loaded: ${models.list.map((s) => s.id).join(', ')})`);
    return m;
  };

  /** Checks the image/record choice before queueing (cheap); the decoding runs in the job. */
  const pickSource = (raw: RawRequest): { upload: Buffer } | { record: number } => {
    const hasRecord = raw.fields.has('record');
    if (raw.image !== null && hasRecord) throw badRequest("send either an image (field 'image') or a CIFAR record (field 'record'), not both");
    if (raw.image !== null) {
      checkImage(raw.image);
      return { upload: raw.image };
    }
    if (!hasRecord) throw badRequest("nothing to classify: upload an image in multipart field 'image', or give a CIFAR record number in field 'record'");
    if (data === null) throw badRequest("this server was started without a CIFAR file (--data), so 'record' cannot be used");
    return { record: intField(raw.fields, 'record', 0, 0, data.total - 1) };
  };

  const loadInput = (src: { upload: Buffer } | { record: number }, m: ServedModel): Input => {
    const { channels: c, height: h, width: w } = m.shape;
    if ('upload' in src) {
      const inp = imageToInput(src.upload, h, w);
      return { chw: inp.chw, json: { source: 'upload', note: inp.note, image: chwToDataUrl(inp.chw, c, h, w) } };
    }
    const rec = readCifarBatch(data!.file, { offset: src.record, limit: 1 });
    const label = rec.labels[0]!;
    return {
      chw: rec.images,
      json: { source: 'record', record: src.record, label, note: `CIFAR record ${src.record} (32×32, label ${data!.classNames[label] ?? label})`, image: chwToDataUrl(rec.images, c, h, w) },
    };
  };

  const classify = (m: ServedModel, input: Input): Omit<PredictResponse, 'seconds'> => {
    const p = probabilities(m.net, input.chw, m.shape);
    let best = 0;
    for (let i = 1; i < p.length; i++) if (p[i]! > p[best]!) best = i;
    const probs: ClassProbability[] = Array.from(p, (v, i) => ({ class: i, name: m.info.classNames[i] ?? `class ${i}`, p: v }));
    return { model: m.id, input: input.json, predicted: best, probabilities: probs };
  };

  // ---- routes ----
  app.get('/api/models', async (): Promise<ModelsResponse> => ({ models: models.list.map((s) => s.info), default: models.defaultModel.id }));

  app.get('/api/methods', async (): Promise<MethodsResponse> => ({
    methods: methodInfo(),
    defaults: { rho: AE_DEFAULTS.rho, steps: AE_DEFAULTS.steps, overshoot: AE_DEFAULTS.overshoot, limeSamples: LIME_DEFAULTS.samples, seed: LIME_DEFAULTS.seed },
    limits: {
      rho: LIMITS.rho, steps: LIMITS.steps, limeSamples: LIMITS.limeSamples, maxUploadBytes: maxUpload,
      maxImageSide: MAX_SIDE, maxImagePixels: MAX_PIXELS, queue: queue.maxWaiting,
    },
  }));

  app.get('/api/status', async () => ({ queue: { running: queue.running, waiting: queue.waiting, completed: queue.completed } }));

  app.get('/api/data', async (): Promise<DataInfo> => (data === null
    ? { available: false }
    : { available: true, name: path.basename(data.file), records: data.total, classNames: data.classNames }));

  app.get('/api/data/records', async (req): Promise<RecordsResponse> => {
    if (data === null) throw notFound('this server was started without a CIFAR file (--data)');
    const q = req.query as Record<string, unknown>;
    for (const k of Object.keys(q)) if (k !== 'offset' && k !== 'limit') throw badRequest(`unknown query parameter '${k.slice(0, 40)}' (expected offset, limit)`);
    const f = new Map<string, string>();
    for (const k of ['offset', 'limit']) {
      const v = q[k];
      if (v === undefined) continue;
      if (typeof v !== 'string') throw badRequest(`query parameter '${k}' is given more than once`);
      f.set(k, v);
    }
    const offset = intField(f, 'offset', 0, 0, data.total - 1);
    const limit = intField(f, 'limit', 24, 1, LIMITS.recordsPage);
    const set = readCifarBatch(data.file, { offset, limit });
    const per = 3 * 32 * 32;
    const records = Array.from({ length: set.n }, (_, i) => {
      const label = set.labels[i]!;
      return { index: offset + i, label, className: data!.classNames[label] ?? String(label), image: chwToDataUrl(set.images.subarray(i * per, (i + 1) * per), 3, 32, 32) };
    });
    return { offset, total: data.total, records };
  });

  app.get('/api/results', async (): Promise<ResultsResponse> => ({ results: results.list() }));

  app.get('/api/results/:id', async (req, reply) => {
    const { id } = req.params as { id: string };
    const r = results.read(id);
    if (r === null) throw notFound(`no saved result with id '${id.slice(0, 40)}'`);
    reply.type(RESULT_TYPES[r.kind]).header('content-disposition', `inline; filename="${r.name.replace(/[^\w.-]/g, '_')}"`);
    return reply.send(r.bytes);
  });

  app.post('/api/predict', async (req, reply): Promise<PredictResponse> => {
    const raw = await readRequest(req, ['model', 'record'], { maxUploadBytes: maxUpload });
    const m = pickModel(raw);
    const src = pickSource(raw);
    return queue.run(async (ctx: JobContext) => {
      const t0 = performance.now();
      const input = loadInput(src, m);
      await ctx.checkpoint();
      return { ...classify(m, input), seconds: (performance.now() - t0) / 1000 };
    }, clientSignal(reply));
  });

  app.post('/api/explain', async (req, reply): Promise<ExplainResponse> => {
    const raw = await readRequest(req, ['model', 'record', 'methods', 'rho', 'steps', 'overshoot', 'targets', 'limeSamples', 'seed'], { maxUploadBytes: maxUpload });
    const m = pickModel(raw);
    const f = raw.fields;
    const methods = methodsField(f, (['ae', 'gradcam', 'lime'] as MethodName[]).filter(isAvailable), isAvailable);
    const params = {
      rho: numField(f, 'rho', AE_DEFAULTS.rho, ...LIMITS.rho),
      steps: intField(f, 'steps', AE_DEFAULTS.steps, ...LIMITS.steps),
      overshoot: numField(f, 'overshoot', AE_DEFAULTS.overshoot, ...LIMITS.overshoot),
      limeSamples: intField(f, 'limeSamples', LIME_DEFAULTS.samples, ...LIMITS.limeSamples),
      seed: intField(f, 'seed', LIME_DEFAULTS.seed, ...LIMITS.seed),
    };
    const targets = targetsField(f, m.info.classNames);
    const src = pickSource(raw);
    return queue.run(async (ctx: JobContext) => {
      const t0 = performance.now();
      const input = loadInput(src, m);
      await ctx.checkpoint();
      const base = classify(m, input);
      const out: ExplainResponse = { ...base, seconds: 0, params, methods };
      const { channels: c, height: h, width: w } = m.shape;
      const names = m.info.classNames;
      for (const method of methods) {
        await ctx.checkpoint();
        if (method === 'ae') {
          // In chunks, giving the event loop a turn between them: other requests are answered, and a client that
          // left (moved the slider again) stops the job early. Five images a batch cost no more than ten.
          const ae: AeTarget[] = [];
          for (let i = 0; i < targets.length; i += AE_CHUNK) {
            if (i > 0) await ctx.checkpoint();
            ae.push(...adversarialExplanations(m.net, input.chw, m.shape, targets.slice(i, i + AE_CHUNK), { rho: params.rho, steps: params.steps, overshoot: params.overshoot }));
          }
          await ctx.checkpoint();
          let scale = 0;
          for (const t of ae) for (const d of t.delta) scale = Math.max(scale, Math.abs(d));
          out.ae = {
            deltaScale: scale,
            targets: ae.map((t) => ({
              target: t.target, name: names[t.target] ?? String(t.target), pBefore: t.pBefore, pAfter: t.pAfter, predictedAfter: t.predictedAfter,
              rms: t.rms, image: chwToDataUrl(t.image, c, h, w), delta: deltaToDataUrl(t.delta, c, h, w, scale),
            })),
          };
        } else {
          const r = mapExplanation(method, m.net, input.chw, m.shape, base.predicted, { samples: params.limeSamples, seed: params.seed });
          const j: MapJson = { target: r.target, name: names[r.target] ?? String(r.target), image: overlayDataUrl(input.chw, c, h, w, r.map, { signed: r.signed }) };
          if (r.detail !== undefined) j.detail = r.detail;
          Object.assign(out, { [method]: j }); // under the method's name, a registered plug-in's too
        }
      }
      out.seconds = (performance.now() - t0) / 1000;
      return out;
    }, clientSignal(reply));
  });

  // ---- the page ----
  const notBuilt = '<!doctype html><meta charset="utf-8"><title>advexp</title><p>The web page is not built. Run <code>npm run build</code> '
    + '(or <code>npm run build:web</code>) and restart <code>advexp serve</code>. The API under /api/ works.</p>\n';
  app.get('/*', async (req, reply) => {
    const p = req.url.split('?')[0]!;
    if (p.startsWith('/api/')) throw notFound(`no such API route: GET ${p.slice(0, 100)}`);
    const file: StaticFile | undefined = web.get(p);
    if (file === undefined) {
      if (p === '/' && web.size === 0) return reply.code(503).type('text/html; charset=utf-8').send(notBuilt);
      return reply.code(404).type('text/plain; charset=utf-8').send('not found\n');
    }
    reply.type(file.type).header('cache-control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    return reply.send(file.body);
  });

  let closing: Promise<void> | null = null;
  return {
    app, queue, models,
    close() {
      closing ??= (async () => {
        closingDown = true;
        queue.close();
        const closed = app.close();
        await queue.idle();
        // The last answers are on their way with `connection: close`; sockets idle by now can go.
        setImmediate(() => app.server.closeIdleConnections());
        await closed;
        models.dispose();
      })();
      return closing;
    },
  };
}

/** True when `host` is a loopback name or address (then the Host-header check is on by default). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
