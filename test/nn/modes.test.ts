// inEval and frozen: the model's mode and each parameter's requiresGrad come back as they were, also on a throw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sequential, Linear, BatchNorm2d, inEval, frozen } from '../../src/nn/index.js';

test('inEval runs in eval mode and restores the mode, also when fn throws', () => {
  const m = new Sequential([new BatchNorm2d(2), new Linear(2, 2)]);
  for (const start of [true, false]) {
    m.train(start);
    assert.equal(inEval(m, () => [m.training, m.layers[0]!.training]).join(), 'false,false');
    assert.equal(m.training, start);
    assert.throws(() => inEval(m, () => { throw new Error('boom'); }), /boom/);
    assert.equal(m.layers[1]!.training, start);
  }
  m.dispose();
});

test('frozen turns requiresGrad off and restores each parameter\'s own flag, also when fn throws', () => {
  const m = new Sequential([new Linear(3, 2), new Linear(2, 2)]);
  const params = m.parameters();
  params[0]!.requiresGrad_(false);
  const want = params.map((p) => p.requiresGrad);
  assert.deepEqual(frozen(m, () => params.map((p) => p.requiresGrad)), params.map(() => false));
  assert.deepEqual(params.map((p) => p.requiresGrad), want);
  assert.throws(() => frozen(m, () => { throw new Error('boom'); }), /boom/);
  assert.deepEqual(params.map((p) => p.requiresGrad), want);
  assert.equal(frozen(m, () => 42), 42);
  m.dispose();
});
