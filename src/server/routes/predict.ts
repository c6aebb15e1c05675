// POST /api/predict: the class probabilities of an upload or a CIFAR record, computed in the job queue.
import type { FastifyInstance } from 'fastify';
import type { JobContext } from '../queue.js';
import { readRequest } from '../requests.js';
import { pickModel, pickSource, loadInput, classify } from '../input.js';
import { clientSignal, type ServerContext } from '../context.js';
import type { PredictResponse } from '../api-types.js';

export function registerPredictRoute(app: FastifyInstance, ctx: ServerContext): void {
  const { models, queue, data } = ctx;
  app.post('/api/predict', async (req, reply): Promise<PredictResponse> => {
    const raw = await readRequest(req, ['model', 'record'], { maxUploadBytes: ctx.maxUpload });
    const m = pickModel(raw, models);
    const src = await pickSource(raw, data);
    return queue.run(async (job: JobContext) => {
      const t0 = performance.now();
      const input = await loadInput(src, m, data);
      await job.checkpoint();
      return { ...classify(m, input), seconds: (performance.now() - t0) / 1000 };
    }, clientSignal(reply));
  });
}
