// Gradient explainers against independent references in float64: saliency against central finite differences,
// Grad-CAM's channel weights against finite differences of the head along each channel (the hook shifts A_k by a
// constant), integrated gradients against completeness (Σ attributions = z(x) − z(x'), the fundamental theorem of
// calculus) and exactness on a linear model, SmoothGrad against its definition on a linear model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, tidy, noGrad, rand, manualSeed, liveTensors, type Tensor } from '../../src/engine/index.js';
import { explain, findLayer, GradCAM, Saliency, SmoothGrad, IntegratedGradients } from '../../src/explain/index.js';
import { Module } from '../../src/nn/index.js';
import { Tiny64, Linear64 } from './tiny-nets.js';

const H = 8, W = 8;
function images(n: number, seed = 5): Tensor {
  manualSeed(seed);
  return rand([n, 3, H, W], { dtype: 'float64' });
}
const logit = (model: Tiny64 | Linear64, x: Tensor, i: number, t: number): number =>
  tidy(() => noGrad(() => model.call(x.slice(0, i, i + 1)).select(1, t).item()));

test('saliency = max over channels of |∂z_t/∂x| (central differences, float64)', () => tidy(() => {
  const model = new Tiny64();
  const x = images(2);
  const targets = Int32Array.from([1, 3]);
  const r = new Saliency().attribute(model, x, targets);
  assert.equal(r.maps.length, 2 * H * W);
  const h = 1e-6;
  for (const [i, y, xx] of [[0, 0, 0], [0, 3, 5], [1, 7, 7], [1, 4, 2]] as const) {
    let best = 0;
    for (let c = 0; c < 3; c++) {
      const at = (d: number): number => tidy(() => {
        const v = x.contiguous().data<Float64Array>();
        v[((i * 3 + c) * H + y) * W + xx]! += d;
        return logit(model, tensor(v, x.shape), i, targets[i]!);
      });
      best = Math.max(best, Math.abs((at(h) - at(-h)) / (2 * h)));
    }
    const got = r.maps[(i * H + y) * W + xx]!;
    assert.ok(Math.abs(got - best) <= 1e-5 * best + 1e-9, `pixel (${i}, ${y}, ${xx}): ${got} vs finite difference ${best}`);
  }
  assert.ok(r.pBefore.every((p) => p > 0 && p < 1));
}));

test('Grad-CAM: α_k matches finite differences of the head along channel k; map = ReLU(Σ α_k A_k)', () => tidy(() => {
  const model = new Tiny64();
  const x = images(2, 9);
  const targets = Int32Array.from([0, 2]);
  const r = new GradCAM({ layer: 'body' }).attribute(model, x, targets);
  const g = r.details;
  assert.equal(g.layer, 'body');
  assert.deepEqual([g.camHeight, g.camWidth], [4, 4]);
  const layer = findLayer(model, 'body');
  const A = noGrad(() => model.body.call(x));
  const K = A.shape[1]!, hw = g.camHeight * g.camWidth;
  const h = 1e-6;
  assert.ok(g.cam.some((v) => v > 0) && g.cam.some((v) => v === 0), 'the check covers both sides of the ReLU');
  for (let i = 0; i < 2; i++) {
    const alpha: number[] = [];
    for (let k = 0; k < K; k++) {
      const at = (d: number): number => {
        layer.forwardHook = (out) => {
          const shift = new Float64Array(out.size);
          for (let b = 0; b < out.shape[0]!; b++) shift.fill(d, (b * K + k) * hw, (b * K + k + 1) * hw);
          return out.add(tensor(shift, out.shape));
        };
        try { return logit(model, x, i, targets[i]!); } finally { layer.forwardHook = null; }
      };
      alpha.push((at(h) - at(-h)) / (2 * h) / hw);   // d z / d t of A_k + t = Σ_ij ∂z/∂A_k(ij) = hw · α_k
    }
    const a = A.select(0, i).contiguous().data<Float64Array>();
    for (let p = 0; p < hw; p++) {
      let v = 0;
      for (let k = 0; k < K; k++) v += alpha[k]! * a[k * hw + p]!;
      const want = Math.max(0, v);
      const got = g.cam[i * hw + p]!;
      assert.ok(Math.abs(got - want) <= 1e-5 * Math.abs(want) + 1e-6, `image ${i} cell ${p}: CAM ${got} vs ${want}`);
    }
    const m = r.maps.subarray(i * H * W, (i + 1) * H * W);
    if (g.cam.subarray(i * hw, (i + 1) * hw).some((v) => v > 0)) {
      assert.ok(Math.abs(Math.max(...m) - 1) < 1e-6 && Math.abs(Math.min(...m)) < 1e-6, 'upsampled map is scaled to [0, 1]');
    }
  }
}));

test('Grad-CAM: the default layer of a PreActResNet is its last stage; unknown layers are named', async () => {
  const { PreActResNet } = await import('../../src/nn/index.js');
  const net = new PreActResNet({ depth: 8, widths: [4, 8, 8] }).eval();
  const x = rand([1, 3, 32, 32]);
  const r = explain(net, x, Int32Array.from([3]), { method: 'gradcam' });
  assert.equal(r.details.layer, 'pipe.3');
  assert.deepEqual([r.details.camHeight, r.details.camWidth], [8, 8]);
  assert.throws(() => explain(net, x, Int32Array.from([3]), { method: 'gradcam', layer: 'pipe.9' }), /layer 'pipe\.9'.*no child '9'.*children: pipe\.0/);
  assert.throws(() => explain(net, x, Int32Array.from([10]), { method: 'gradcam' }), /target 10 outside 0\.\.9/);
  x.dispose();
  net.dispose();
});

test('integrated gradients: completeness on a smooth net, exact on a linear one', () => tidy(() => {
  const model = new Tiny64();
  const x = images(2, 11);
  const targets = Int32Array.from([1, 2]);
  const r = new IntegratedGradients({ steps: 128 }).attribute(model, x, targets);
  for (let i = 0; i < 2; i++) {
    const attr = r.details.attributions.subarray(i * 3 * H * W, (i + 1) * 3 * H * W).reduce((s, v) => s + v, 0);
    const gap = logit(model, x, i, targets[i]!) - logit(model, tensor(new Float64Array(3 * H * W * 2), x.shape), i, targets[i]!);
    assert.ok(Math.abs(attr - gap) < 1e-3 * Math.abs(gap) + 1e-5, `image ${i}: Σ attributions ${attr} vs z(x) − z(0) ${gap}`);
    assert.ok(Math.abs(r.details.delta[i]! - (attr - gap)) < 1e-5, 'reported completeness gap');
    const map = r.maps.subarray(i * H * W, (i + 1) * H * W).reduce((s, v) => s + v, 0);
    assert.ok(Math.abs(map - attr) < 1e-4 * Math.abs(attr) + 1e-5, 'map = attributions summed over channels');
  }
  const lin = new Linear64(3 * H * W, 3);
  const rl = new IntegratedGradients({ steps: 3, baseline: 0.5 }).attribute(lin, x, Int32Array.from([0, 2]));
  const w = lin.weight.contiguous().data<Float64Array>();
  const xv = x.contiguous().data<Float64Array>();
  for (let i = 0; i < 2; i++) {
    for (const j of [0, 17, 191]) {
      const want = (xv[i * 192 + j]! - 0.5) * w[[0, 2][i]! * 192 + j]!;
      assert.ok(Math.abs(rl.details.attributions[i * 192 + j]! - want) < 1e-5, `linear IG element ${j}: ${rl.details.attributions[i * 192 + j]} vs ${want}`);
    }
  }
}));

test('SmoothGrad: σ = 0 is vanilla saliency; on a linear model any noise gives |W| too; seeded', () => tidy(() => {
  const model = new Tiny64();
  const x = images(2, 13);
  const t = Int32Array.from([0, 1]);
  const van = new Saliency().attribute(model, x, t).maps;
  const sg0 = new SmoothGrad({ sigma: 0, samples: 3 }).attribute(model, x, t).maps;
  van.forEach((v, i) => assert.ok(Math.abs(v - sg0[i]!) < 1e-6 * Math.abs(v) + 1e-9, `σ = 0, pixel ${i}`));
  const a = new SmoothGrad({ samples: 5, seed: 3 }).attribute(model, x, t).maps;
  const b = new SmoothGrad({ samples: 5, seed: 3 }).attribute(model, x, t).maps;
  const c = new SmoothGrad({ samples: 5, seed: 4 }).attribute(model, x, t).maps;
  assert.deepEqual(a, b, 'same seed, same map');
  assert.notDeepEqual(a, c, 'another seed, another map');
  const lin = new Linear64(3 * H * W, 3);
  const s = new SmoothGrad({ samples: 4, sigma: 0.5 }).attribute(lin, x, Int32Array.from([2, 2])).maps;
  const v = new Saliency().attribute(lin, x, Int32Array.from([2, 2])).maps;
  s.forEach((val, i) => assert.ok(Math.abs(val - v[i]!) < 1e-6, `linear model pixel ${i}`));
}));

test('integrated gradients is re-entrant: a call made while another runs leaves both results whole', () => tidy(() => {
  const lin = new Linear64(3 * H * W, 3);
  const ig = new IntegratedGradients({ steps: 3 });
  const x = images(2, 13), y = images(1, 14);
  const outerAlone = ig.attribute(lin, x, Int32Array.from([0, 2]));
  const innerAlone = ig.attribute(lin, y, Int32Array.from([1]));
  let inner: typeof innerAlone | null = null;
  // A model whose first forward pass asks the same explainer for another explanation.
  class Nesting extends Module {
    protected forward(t: Tensor): Tensor {
      inner ??= ig.attribute(lin, y, Int32Array.from([1]));
      return lin.call(t);
    }
  }
  const outer = ig.attribute(new Nesting(), x, Int32Array.from([0, 2]));
  assert.deepEqual(Array.from(outer.details.attributions), Array.from(outerAlone.details.attributions));
  assert.deepEqual(Array.from(outer.details.delta), Array.from(outerAlone.details.delta));
  assert.ok(inner !== null);
  assert.deepEqual(Array.from((inner as typeof innerAlone).details.attributions), Array.from(innerAlone.details.attributions));
}));

test('explainers free every tensor they make and leave the model as they found it', () => {
  const model = new Tiny64();
  model.train();
  const x = images(3, 17);
  const live = liveTensors();
  for (const method of ['gradcam', 'saliency', 'smoothgrad', 'ig', 'ae', 'lime'] as const) {
    const opts = method === 'gradcam' ? { method, layer: 'body' } : method === 'lime' ? { method, samples: 20, segments: 8 } : method === 'ae' ? { method, steps: 3 } : { method };
    explain(model, x, Int32Array.from([0, 1, 3]), opts as never);
    assert.equal(liveTensors(), live, `${method} leaks tensors`);
    assert.equal(model.training, true, `${method} restores the training flag`);
    assert.ok(model.parameters().every((p) => p.requiresGrad), `${method} restores requiresGrad`);
    assert.equal(findLayer(model, 'body').forwardHook, null);
  }
  x.dispose();
});
