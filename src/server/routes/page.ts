// GET /*: the built page from memory (src/server/static.ts), or a note on how to build it. Only URL paths that are
// files of the page are answered; nothing a client sends is joined to a directory.
import type { FastifyInstance } from 'fastify';
import { notFound } from '../errors.js';
import type { ServerContext } from '../context.js';

const NOT_BUILT = '<!doctype html><meta charset="utf-8"><title>advexp</title><p>The web page is not built. Run <code>npm run build</code> '
  + '(or <code>npm run build:web</code>) and restart <code>advexp serve</code>. The API under /api/ works.</p>\n';

export function registerPageRoute(app: FastifyInstance, ctx: ServerContext): void {
  const { web } = ctx;
  app.get('/*', async (req, reply) => {
    const p = req.url.split('?')[0]!;
    if (p.startsWith('/api/')) throw notFound(`no such API route: GET ${p.slice(0, 100)}`);
    const file = web.get(p);
    if (file === undefined) {
      if (p === '/' && web.size === 0) return reply.code(503).type('text/html; charset=utf-8').send(NOT_BUILT);
      return reply.code(404).type('text/plain; charset=utf-8').send('not found\n');
    }
    reply.type(file.type).header('cache-control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    return reply.send(file.body);
  });
}
