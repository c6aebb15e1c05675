// GET /api/results (saved `advexp eval` outputs) and /api/results/:id (one file, by the id its listing gave).
import type { FastifyInstance } from 'fastify';
import { notFound } from '../errors.js';
import { RESULT_TYPES } from '../results.js';
import type { ServerContext } from '../context.js';
import type { ResultsResponse } from '../api-types.js';

export function registerResultRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { results } = ctx;
  app.get('/api/results', async (): Promise<ResultsResponse> => ({ results: results.list() }));

  app.get('/api/results/:id', async (req, reply) => {
    const { id } = req.params as { id: string };
    const r = results.read(id);
    if (r === null) throw notFound(`no saved result with id '${id.slice(0, 40)}'`);
    reply.type(RESULT_TYPES[r.kind]).header('content-disposition', `inline; filename="${r.name.replace(/[^\w.-]/g, '_')}"`);
    return reply.send(r.bytes);
  });
}
