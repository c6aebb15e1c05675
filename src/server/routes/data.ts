// GET /api/data (the --data file, if any) and /api/data/records (a page of its records as thumbnails).
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { badRequest, notFound } from '../errors.js';
import { intField } from '../requests.js';
import { chwToDataUrl } from '../images.js';
import { LIMITS, type ServerContext } from '../context.js';
import type { DataInfo, RecordsResponse } from '../api-types.js';

export function registerDataRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { data } = ctx;
  app.get('/api/data', async (): Promise<DataInfo> => (data === null
    ? { available: false }
    : { available: true, name: path.basename(data.file), records: data.set.n, classNames: data.set.classNames }));

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
    const { set } = data;
    const offset = intField(f, 'offset', 0, 0, set.n - 1);
    const limit = intField(f, 'limit', 24, 1, LIMITS.recordsPage);
    const end = Math.min(set.n, offset + limit);
    const records = Array.from({ length: end - offset }, (_, i) => {
      const label = set.labels[offset + i]!;
      return { index: offset + i, label, className: set.className(label), image: chwToDataUrl(set.floats(offset + i, offset + i + 1), set.channels, set.height, set.width) };
    });
    return { offset, total: set.n, records };
  });
}
