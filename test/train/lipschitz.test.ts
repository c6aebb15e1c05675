// lipschitzLoss's one calling convention: a fixed ψ (parity test, bench) or the adaptive controller (training). The
// controller is stepped once with the batch's L_cls before it weighs the penalty, and the loss is the one a fixed ψ
// of that value gives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tidy, rand, randint, manualSeed, setNumThreads } from '../../src/engine/index.js';
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
