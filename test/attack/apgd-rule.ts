// APGD's step-size rule (Croce & Hein 2020, §3.2) recomputed in plain JS from an attack's traced losses, to check
// the attack's traced step sizes against (test/attack/autoattack*.test.ts).
import assert from 'node:assert/strict';
import { apgdCheckpoints } from '../../src/attack/index.js';

/**
 * APGD's step-size rule recomputed in plain JS from the traced losses alone, compared with the traced step
 * sizes; returns how many checkpoints halved and kept η.
 */
export function checkStepSizes(traces: { loss: Float32Array; stepSize: Float32Array }[], B: number, eps: number): { halved: number; kept: number } {
  const steps = traces.length - 1;
  const checks = new Map(apgdCheckpoints(steps).map((c) => [c.at, c.period]));
  let halved = 0, kept = 0;
  for (let i = 0; i < B; i++) {
    // The rule recomputed from the losses alone.
    let eta = 2 * eps, prev = traces[0]!.loss[i]!, best = prev, bestAtCheck = prev, reducedLast = true, ups = 0;
    for (let t = 0; t < steps; t++) {
      const { loss, stepSize } = traces[t + 1]!;
      const l = loss[i]!;
      if (l > prev) ups++;
      prev = l;
      if (l > best) best = l;
      const period = checks.get(t + 1);
      if (period !== undefined) {
        const reduce: boolean = ups <= 0.75 * period || (!reducedLast && bestAtCheck >= best);
        if (reduce) { eta /= 2; halved++; } else kept++;
        reducedLast = reduce; bestAtCheck = best; ups = 0;
      }
      assert.ok(Math.abs(stepSize[i]! - eta) <= 1e-6 * eta, `sample ${i} after iteration ${t}: η ${stepSize[i]} vs ${eta}`);
    }
  }
  return { halved, kept };
}

