// advexp's HTTP server: the JSON API under /api/ and the built page. Fastify does the HTTP; createServer builds the
// shared context (context.ts), installs the rules every request passes (guards.ts) and registers the route modules
// (routes/*.ts), each on the same instance with the same context. The safety rules:
//  - uploads are capped (413) and only real PNG/JPEG/WebP/AVIF/TIFF/GIF pictures are decoded (anything else: 400);
//  - nothing a client sends becomes a file path: models, records and results are addressed by server-made ids;
//  - engine work runs one job at a time through the queue, each job bounded by the parameter limits;
//  - every error is a JSON { error, statusCode } and never takes the server down;
//  - when bound to loopback, requests must name a loopback host (no DNS rebinding) and come from the same origin.
import Fastify, { type FastifyInstance } from 'fastify';
import multipart from '@fastify/multipart';
import type { JobQueue } from './queue.js';
import type { ModelRegistry } from './models.js';
import { serverContext, type ServerOptions } from './context.js';
import { registerGuards, LOOPBACK_HOSTS } from './guards.js';
import { registerInfoRoutes } from './routes/info.js';
import { registerDataRoutes } from './routes/data.js';
import { registerResultRoutes } from './routes/results.js';
import { registerPredictRoute } from './routes/predict.js';
import { registerExplainRoute } from './routes/explain.js';
import { registerPageRoute } from './routes/page.js';

export interface AdvexpServer {
  app: FastifyInstance;
  queue: JobQueue;
  models: ModelRegistry;
  /** Stops taking requests, refuses waiting jobs, lets the running one finish, frees the models. */
  close(): Promise<void>;
}

export async function createServer(opts: ServerOptions): Promise<AdvexpServer> {
  const ctx = serverContext(opts);
  const { queue, models } = ctx;

  const app = Fastify({
    logger: false,
    bodyLimit: 64 * 1024,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    routerOptions: { maxParamLength: 100 },
  });
  app.removeContentTypeParser('text/plain');
  await app.register(multipart, { throwFileSizeLimit: true, limits: { fileSize: ctx.maxUpload, files: 1 } });

  registerGuards(app, ctx, opts.allowedHosts === undefined ? LOOPBACK_HOSTS : opts.allowedHosts);
  app.addHook('preClose', async () => { ctx.closing = true; queue.close(); });
  registerInfoRoutes(app, ctx);
  registerDataRoutes(app, ctx);
  registerResultRoutes(app, ctx);
  registerPredictRoute(app, ctx);
  registerExplainRoute(app, ctx);
  registerPageRoute(app, ctx);

  let closing: Promise<void> | null = null;
  return {
    app, queue, models,
    close() {
      closing ??= (async () => {
        ctx.closing = true;
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
