// lipschitzLoss's one calling convention: a fixed ψ (parity test, bench) or the adaptive controller (training). The
// controller is stepped once with the batch's L_cls before it weighs the penalty, and the loss is the one a fixed ψ
// of that value gives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tidy, rand, randint, manualSeed, setNumThreads, grad, noGrad, type Tensor } from '../../src/engine/index.js';
import { PreActResNet } from '../../src/nn/index.js';
import { lipschitzLoss, sampleChoices, AdaptivePsi } from '../../src/train/lipschitz.js';

setNumThreads(1);

test('an adaptive ψ is stepped with the batch\'s L_cls, then weighs the penalty like the same fixed ψ', () => {
  manualSeed(1);
  const model = new PreActResNet({ depth: 8, widths: [4, 8, 8], activation: 'half-huber' }).eval();
  try {
    tidy(() => {
      const x = rand([6, 3, 32, 32]);
      const y = randint(0, 10, [6]);
      const choices = sampleChoices(6, 10);
      const ctl = new AdaptivePsi(5);
      const adaptive = lipschitzLoss(model, x, y, ctl, choices);
      const lossCls = adaptive.lossCls.item();
      const r = Math.max(0, 5 + Math.min(1, Math.max(-0.01, -Math.log(lossCls / 1.5))));
      assert.equal(ctl.r, r);
      assert.equal(adaptive.psi, ctl.psi);
      assert.equal(adaptive.psi, 220 * Math.exp(0.02 * r));

      const fixed = lipschitzLoss(model, x, y, adaptive.psi, choices);
      assert.equal(fixed.psi, adaptive.psi);
      assert.equal(fixed.lossCls.item(), lossCls);
      assert.equal(fixed.lossAdv.item(), adaptive.lossAdv.item());
      assert.equal(fixed.loss.item(), adaptive.loss.item());
      assert.equal(ctl.r, r, 'a fixed ψ leaves the controller alone');
    });
  } finally {
    model.dispose();
  }
});

test('the finite-difference penalty approaches double backprop as h shrinks; its second pass leaves batch norm\'s statistics alone', () => {
  manualSeed(2);
  const model = new PreActResNet({ depth: 8, widths: [4, 8, 8], activation: 'half-huber' });
  try {
    tidy(() => {
      const x = rand([6, 3, 32, 32]);
      const y = randint(0, 10, [6]);
      const choices = sampleChoices(6, 10);
      const params = model.parameters();
      const flatGrad = (loss: Tensor): Float32Array => {
        const gs = grad(loss, params, { allowUnused: true }); // the penalty does not see the last bias
        return Float32Array.from(gs.flatMap((g, i) => (g === null ? new Array<number>(params[i]!.size).fill(0) : [...g.data<Float32Array>()])));
      };
      // Eval mode: no batch coupling, so Σ_b ‖G_b‖² is exactly what mean(G²) sums.
      model.eval();
      const exact = lipschitzLoss(model, x, y, 1, choices);
      const exactAdv = exact.lossAdv.item(), exactGrad = flatGrad(exact.lossAdv);
      const errs = [1e-1, 1e-2].map((h) => {
        const fd = lipschitzLoss(model, x, y, 1, choices, null, { penalty: 'finite-difference', fdStep: h });
        const g = flatGrad(fd.lossAdv);
        let dot = 0, nn = 0, ne = 0;
        for (let i = 0; i < g.length; i++) { dot += g[i]! * exactGrad[i]!; nn += g[i]! ** 2; ne += exactGrad[i]! ** 2; }
        return { value: Math.abs(fd.lossAdv.item() - exactAdv) / exactAdv, cosine: dot / Math.sqrt(nn * ne) };
      });
      assert.ok(errs[1]!.value < 0.02, `h 0.01: penalty ${errs[1]!.value} off (relative)`);
      assert.ok(errs[1]!.value < errs[0]!.value, `the error shrinks with h: ${errs[0]!.value} → ${errs[1]!.value}`);
      assert.ok(errs[1]!.cosine > 0.99, `h 0.01: gradient direction cosine ${errs[1]!.cosine}`);
      // Train mode: the running statistics after the loss are those of its first pass alone.
      model.train();
      const before = model.namedBuffers().map(([, b]) => b.clone());
      lipschitzLoss(model, x, y, 1, choices);
      const afterExact = model.namedBuffers().map(([, b]) => [...b.data()]);
      model.namedBuffers().forEach(([, b], i) => noGrad(() => b.copy_(before[i]!)));
      const fd = lipschitzLoss(model, x, y, 1, choices, null, { penalty: 'finite-difference' });
      assert.ok(Number.isFinite(fd.loss.item()));
      model.namedBuffers().forEach(([n, b], i) => assert.deepEqual([...b.data()], afterExact[i], `buffer ${n}`));
      flatGrad(fd.loss); // differentiable through both passes, first order
    });
  } finally {
    model.dispose();
  }
});
