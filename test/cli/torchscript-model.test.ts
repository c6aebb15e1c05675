// Issue 12's "done when": a model exported from PyTorch (a narrow torchvision ResNet-18, torch.jit.script) runs
// through predict, eval (ARA, PGD), explain (AE, saliency, IG, LIME, Grad-CAM on layer4) and serve, with its class
// names, input size and ImageNet normalisation from a sidecar JSON; the numbers PyTorch gives are checked in
// test/nn/script.test.ts (logits, gradients, Grad-CAM).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadModel } from '../../src/io/model-file.js';
import { createServer } from '../../src/server/index.js';
import { tmpDir, makeLearnableBatch } from '../data/make-cifar.js';
import { advexp } from '../helpers/cli.js';
import { repoRoot } from '../helpers/shared.js';

const root = tmpDir('advexp-ts-cli-');
process.on('exit', () => fs.rmSync(root, { recursive: true, force: true }));
const model = path.join(root, 'resnet18n.pt');
fs.copyFileSync(path.join(repoRoot(), 'test', 'fixtures', 'torchscript', 'resnet18n_script.pt'), model);
const CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
fs.writeFileSync(path.join(root, 'resnet18n.json'), JSON.stringify({ classes: CLASSES, size: 64, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] }));
const data = path.join(root, 'data.bin');
fs.writeFileSync(data, makeLearnableBatch(6));

test('a scripted torchvision ResNet with a sidecar: predict, eval, explain with Grad-CAM on layer4', () => {
  const p = advexp(['predict', '--model', model, '--data', data, '--json', '-', '--threads', '1', '--quiet']);
  assert.equal(p.code, 0, p.stderr);
  assert.equal((JSON.parse(p.stdout) as { predictions: number[] }).predictions.length, 6);
  const e = advexp(['eval', '--model', model, '--data', data, '--ara', 'attack', '--steps', '20', '--pgd', 'l2', '--pgd-steps', '2', '--json', '-', '--threads', '1', '--quiet']);
  assert.equal(e.code, 0, e.stderr);
  assert.equal((JSON.parse(e.stdout) as { distances: { attack: number[] } }).distances.attack.length, 6);
  const out = path.join(root, 'explain');
  const x = advexp(['explain', '--model', model, '--data', data, '--index', '0', '--methods', 'ae,gradcam,saliency,ig,lime', '--layer', 'layer4',
    '--steps', '5', '--lime-samples', '20', '--ig-steps', '4', '--out', out, '--threads', '1', '--quiet']);
  assert.equal(x.code, 0, x.stderr);
  const j = JSON.parse(fs.readFileSync(path.join(out, 'explain.json'), 'utf8')) as { results: { predictions: { class_name: string }[]; maps: Record<string, unknown[]> }[] };
  assert.ok(CLASSES.includes(j.results[0]!.predictions[0]!.class_name), 'class names from the sidecar');
  assert.deepEqual(Object.keys(j.results[0]!.maps).sort(), ['gradcam', 'ig', 'lime', 'saliency']);
  // A layer the chain of children cannot reach: one line naming it.
  const bad = advexp(['explain', '--model', model, '--data', data, '--index', '0', '--methods', 'gradcam', '--layer', 'layer4.0.conv1', '--out', path.join(root, 'bad'), '--threads', '1']);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /--layer: layer 'layer4\.0\.conv1' is not reachable/);
});

test('serve: the TorchScript model answers a prediction for a record, fitted to its 64×64 input', async () => {
  const srv = await createServer({ models: [{ model: loadModel(model) }], data, webRoot: null });
  try {
    const info = (await srv.app.inject({ url: '/api/models' })).json() as { models: { input: number[]; classNames: string[]; architecture: string }[] };
    assert.deepEqual(info.models[0]!.input, [3, 64, 64]);
    assert.deepEqual(info.models[0]!.classNames, CLASSES);
    assert.match(info.models[0]!.architecture, /^TorchScript /);
    const r = await srv.app.inject({ method: 'POST', url: '/api/predict', payload: { record: 2 } });
    assert.equal(r.statusCode, 200, r.body);
    const probs = (r.json() as { probabilities: { p: number }[] }).probabilities;
    assert.equal(probs.length, 10);
    assert.ok(Math.abs(probs.reduce((s, c) => s + c.p, 0) - 1) < 1e-4);
  } finally {
    await srv.close();
  }
});
