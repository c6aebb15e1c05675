// The rules every request passes through, in one place: Host and Origin checks (no DNS rebinding, no cross-site
// posts), the upload cap before any body is read, security headers, a log line per API request, errors as JSON
// { error, statusCode } that never take the server down, and 404s for unknown routes.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ClientGoneError, HttpError } from './errors.js';
import type { ServerContext } from './context.js';
import type { ApiError } from './api-types.js';

export const LOOPBACK_HOSTS: readonly string[] = ['localhost', '127.0.0.1', '[::1]', '::1'];

const CSP = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; "
  + "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** True when `host` is a loopback name or address (then the Host-header check is on by default). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

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

/** Installs the hooks and handlers above. allowedHosts: Host names accepted, null for any. */
export function registerGuards(app: FastifyInstance, ctx: ServerContext, allowedHosts: readonly string[] | null): void {
  const { maxUpload, log } = ctx;
  app.addHook('onRequest', async (req, reply) => {
    (req as FastifyRequest & { t0: number }).t0 = performance.now();
    if (allowedHosts !== null && !allowedHosts.includes(hostName(req.headers.host))) {
      throw new HttpError(403, `host '${String(req.headers.host ?? '').slice(0, 80)}' is not accepted (the server answers only to ${allowedHosts.filter((h) => h !== '::1').join(', ')})`);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      // A page's own requests carry its real origin. `Origin: null` comes from sandboxed iframes, file:// pages and
      // cross-site redirects: foreign like any other (a form there could queue compute jobs). No Origin at all is a
      // non-browser client (curl, scripts), which the Host check already covers.
      const origin = req.headers.origin;
      if (origin !== undefined) {
        let ok = false;
        try { ok = origin !== 'null' && new URL(origin).host.toLowerCase() === String(req.headers.host ?? '').toLowerCase(); } catch { ok = false; }
        if (!ok) throw new HttpError(403, `cross-origin requests are not accepted (Origin: ${origin.slice(0, 80)})`);
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
  app.addHook('onSend', async (req, reply, payload) => {
    if (ctx.closing) reply.header('connection', 'close');
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
}
