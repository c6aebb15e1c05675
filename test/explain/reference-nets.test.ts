// The explainers on two published networks against bench/torch_explain.py (PyTorch 1.13, written from METHOD.md
// §5/§7 and the papers): records 5000–5003 of data_batch_5.bin, eval mode. AE: target = most confident class other
// than the label, ρ 0.1, 35 steps, overshoot 5. Grad-CAM, saliency, IG (black baseline, 32 midpoint steps): the
// predicted class. The two forwards differ in the last float32 bits (pooling order), and the constants come from
// one machine (AVX-512), so comparisons are scale-aware over the four images (test/helpers/close.ts), with the
// margins over every kernel set measured in bench/tolerance-spread.json. The 35-step AE on the standard net is
// ill-conditioned (its iterate never reaches ρ and wanders with the last bits): its RMS is compared as a median.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { setNumThreads, tensor, liveTensors } from '../../src/engine/index.js';
import { loadModel } from '../../src/io/model-file.js';
import { readCifarBatch } from '../../src/data/cifar.js';
import { explain } from '../../src/explain/index.js';
import { skipUnlessShared } from '../helpers/shared.js';
import { assertAllClose, assertMedianRelClose } from '../helpers/close.js';

setNumThreads(1);

const TORCH = {
  labels: [7, 1, 4, 1],
  standard: {
    pred: [7, 1, 4, 1], second: [4, 9, 6, 8],
    ae: { p_before: [6.98066e-08, 0.08272602, 8.546517e-05, 1.373236e-06], p_after: [1.0, 1.0, 1.0, 1.0], rms: [0.03817106, 0.0447618, 0.03838318, 0.04329162] },
    gradcam: { cam_sum: [17.65127, 17.92247, 9.597938, 16.29107], cam_max: [0.7927877, 0.7126178, 0.6271344, 0.7712715], map_sum: [363.1381, 406.5938, 253.114, 350.2028] },
    saliency: { map_sum: [1327.122, 1760.748, 2830.99, 1181.809] },
    ig: { attr_sum: [21.44134, 14.69241, 11.99073, 17.97025], gap: [21.17912, 14.81192, 13.09366, 17.26487] },
  },
  robust: {
    pred: [7, 1, 4, 1], second: [4, 9, 6, 9],
    ae: { p_before: [0.1307683, 0.141651, 0.1596619, 0.04175141], p_after: [0.3297331, 0.5396383, 0.4804638, 0.4258227], rms: [0.1000225, 0.09925681, 0.09978558, 0.1004103] },
    gradcam: { cam_sum: [1.775887, 1.466001, 0.1449445, 2.700042], cam_max: [0.1500162, 0.1305692, 0.01260357, 0.2232143], map_sum: [196.0606, 181.8864, 192.3943, 200.1344] },
    saliency: { map_sum: [7.714468, 9.843649, 3.893471, 6.193491] },
    ig: { attr_sum: [3.180084, 2.704865, 0.1374975, 5.134627], gap: [3.179944, 2.704685, 0.1375774, 5.130105] },
  },
} as const;

// IG sums 32 passes (measured spread up to 1.2e-4 of scale between kernel sets, hence 2e-3).
const TOL = { single: { rtol: 1e-3 }, ig: { rtol: 2e-3 }, ae: { rtol: 5e-3 }, aeStandardRms: { rtol: 5e-2 } } as const;
const sums = (a: Float32Array, n: number): number[] => {
  const per = a.length / n;
  return Array.from({ length: n }, (_, i) => a.subarray(i * per, (i + 1) * per).reduce((s, v) => s + v, 0));
};

for (const net of ['standard', 'robust'] as const) {
  test(`explainers on resnet44-${net} agree with the PyTorch versions`, (t) => {
    const shared = skipUnlessShared(t, `models/reference/resnet44-${net}.safetensors`, 'data/cifar10/data_batch_5.bin');
    if (shared === null) return;
    const { model } = loadModel(path.join(shared, 'models', 'reference', `resnet44-${net}.safetensors`));
    const set = readCifarBatch(path.join(shared, 'data', 'cifar10', 'data_batch_5.bin'), { offset: 5000, limit: 4 });
    assert.deepEqual(Array.from(set.labels), TORCH.labels);
    const want = TORCH[net];
    const x = tensor(set.floats(), [4, 3, 32, 32]);
    const live = liveTensors();
    const pred = Int32Array.from(want.pred);

    const ae = explain(model, x, Int32Array.from(want.second), { method: 'ae' });
    assertAllClose(ae.pBefore, want.ae.p_before, TOL.single, `resnet44-${net} AE p_before`);
    assertAllClose(ae.details.pAfter, want.ae.p_after, TOL.ae, `resnet44-${net} AE p_after`);
    if (net === 'robust') assertAllClose(ae.details.rms, want.ae.rms, TOL.ae, 'resnet44-robust AE rms');
    else assertMedianRelClose(ae.details.rms, want.ae.rms, TOL.aeStandardRms, 'resnet44-standard AE rms (median)');
    const cam = explain(model, x, pred, { method: 'gradcam' });
    assert.equal(cam.details.layer, 'pipe.3');
    assert.deepEqual([cam.details.camHeight, cam.details.camWidth], [8, 8]);
    const camMax = Array.from({ length: 4 }, (_, i) => Math.max(...cam.details.cam.subarray(i * 64, (i + 1) * 64)));
    assertAllClose(sums(cam.details.cam, 4), want.gradcam.cam_sum, TOL.single, `resnet44-${net} Grad-CAM raw sums`);
    assertAllClose(camMax, want.gradcam.cam_max, TOL.single, `resnet44-${net} Grad-CAM raw max`);
    assertAllClose(sums(cam.maps, 4), want.gradcam.map_sum, TOL.single, `resnet44-${net} Grad-CAM 32×32 map sums`);
    const sal = sums(explain(model, x, pred, { method: 'saliency' }).maps, 4);
    assertAllClose(sal, want.saliency.map_sum, TOL.single, `resnet44-${net} saliency sums`);
    const ig = explain(model, x, pred, { method: 'ig' });
    assertAllClose(sums(ig.details.attributions, 4), want.ig.attr_sum, TOL.ig, `resnet44-${net} IG attribution sums`);
    // Completeness gap = Σ attributions − (z(x) − z(0)), the same quantity on both sides: a small difference of
    // two larger numbers, so judged on the scale of z(x) − z(0).
    const wantGap = want.ig.attr_sum.map((s, i) => s - want.ig.gap[i]!);
    assertAllClose(ig.details.delta, wantGap, { ...TOL.ig, scale: Math.max(...want.ig.gap.map(Math.abs)) }, `resnet44-${net} IG completeness gap`);
    assert.equal(liveTensors(), live, 'every tensor the explainers made is freed');
    x.dispose();
    model.dispose();
  });
}
