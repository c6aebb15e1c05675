// POST /api/explain: the prediction plus the asked-for explanations (AE per target class, map methods of the
// predicted class), computed in the job queue with a turn for the event loop between phases.
import type { FastifyInstance } from 'fastify';
import type { JobContext } from '../queue.js';
import { chwToDataUrl, deltaToDataUrl, overlayDataUrl } from '../images.js';
import { adversarialExplanations, mapExplanation, AE_DEFAULTS, type AeTarget } from '../explainers.js';
import { readRequest, intField, numField, methodsField, targetsField } from '../requests.js';
import { pickModel, pickSource, loadInput, classify } from '../input.js';
import { clientSignal, LIMITS, LIME_DEFAULTS, type ServerContext } from '../context.js';
import type { ExplainResponse, MapJson } from '../api-types.js';

/** AE targets per engine call between event-loop turns. */
const AE_CHUNK = 5;

export function registerExplainRoute(app: FastifyInstance, ctx: ServerContext): void {
  const { models, queue, data } = ctx;
  app.post('/api/explain', async (req, reply): Promise<ExplainResponse> => {
    const raw = await readRequest(req, ['model', 'record', 'methods', 'rho', 'steps', 'overshoot', 'targets', 'limeSamples', 'seed'], { maxUploadBytes: ctx.maxUpload });
    const m = pickModel(raw, models);
    const f = raw.fields;
    const methods = methodsField(f, ['ae', 'gradcam', 'lime']);
    const params = {
      rho: numField(f, 'rho', AE_DEFAULTS.rho, ...LIMITS.rho),
      steps: intField(f, 'steps', AE_DEFAULTS.steps, ...LIMITS.steps),
      overshoot: numField(f, 'overshoot', AE_DEFAULTS.overshoot, ...LIMITS.overshoot),
      limeSamples: intField(f, 'limeSamples', LIME_DEFAULTS.samples, ...LIMITS.limeSamples),
      seed: intField(f, 'seed', LIME_DEFAULTS.seed, ...LIMITS.seed),
    };
    const targets = targetsField(f, m.info.classNames);
    const src = await pickSource(raw, data);
    return queue.run(async (job: JobContext) => {
      const t0 = performance.now();
      const input = await loadInput(src, m, data);
      await job.checkpoint();
      const base = classify(m, input);
      const out: ExplainResponse = { ...base, seconds: 0, params, methods };
      const { channels: c, height: h, width: w } = m.shape;
      const names = m.info.classNames;
      for (const method of methods) {
        await job.checkpoint();
        if (method === 'ae') {
          // In chunks, giving the event loop a turn between them: other requests are answered, and a client that
          // left (moved the slider again) stops the job early. Five images a batch cost no more than ten.
          const ae: AeTarget[] = [];
          for (let i = 0; i < targets.length; i += AE_CHUNK) {
            if (i > 0) await job.checkpoint();
            ae.push(...adversarialExplanations(m.net, input.chw, m.shape, targets.slice(i, i + AE_CHUNK), { rho: params.rho, steps: params.steps, overshoot: params.overshoot }));
          }
          await job.checkpoint();
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
}
