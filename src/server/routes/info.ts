// GET /api/models, /api/methods (explainers, defaults, limits) and /api/status (the job queue).
import type { FastifyInstance } from 'fastify';
import { methodInfo, AE_DEFAULTS } from '../explainers.js';
import { MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE } from '../../data/decode.js';
import { LIMITS, LIME_DEFAULTS, type ServerContext } from '../context.js';
import type { MethodsResponse, ModelsResponse } from '../api-types.js';

export function registerInfoRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { models, queue } = ctx;
  app.get('/api/models', async (): Promise<ModelsResponse> => ({ models: models.list.map((s) => s.info), default: models.defaultModel.id }));

  app.get('/api/methods', async (): Promise<MethodsResponse> => ({
    methods: methodInfo(),
    defaults: { rho: AE_DEFAULTS.rho, steps: AE_DEFAULTS.steps, overshoot: AE_DEFAULTS.overshoot, limeSamples: LIME_DEFAULTS.samples, seed: LIME_DEFAULTS.seed },
    limits: {
      rho: LIMITS.rho, steps: LIMITS.steps, limeSamples: LIMITS.limeSamples, maxUploadBytes: ctx.maxUpload,
      maxImageSide: MAX_IMAGE_SIDE, maxImagePixels: MAX_IMAGE_PIXELS, queue: queue.maxWaiting,
    },
  }));

  app.get('/api/status', async () => ({ queue: { running: queue.running, waiting: queue.waiting, completed: queue.completed } }));
}
