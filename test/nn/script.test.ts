// TorchScript models (nn/script.ts, io/torchscript.ts) against PyTorch: fixtures written by
// bench/make_script_fixtures.py (test/fixtures/torchscript/, committed; the suite needs no Python). The references
// are the eager nn.Modules' results, so these compare libtorch's TorchScript path in advexp with PyTorch itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  Tensor, tensor, tidy, noGrad, gradOf, crossEntropy, liveTensors, liveJitModules, keep,
} from '../../src/engine/index.js';
import { ScriptModule, ScriptChild, inEval } from '../../src/nn/index.js';
import { loadScriptModule, saveScriptModule } from '../../src/io/torchscript.js';
import { loadModel } from '../../src/io/model-file.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { lipschitzLoss } from '../../src/train/lipschitz.js';
import { Sgd } from '../../src/train/sgd.js';
import { GradCAM, findLayer } from '../../src/explain/gradcam.js';
import { araDistances } from '../../src/metrics/ara.js';
import { camPreservingAttack } from '../../src/explain/cam-attack.js';
import { readCifarBatch } from '../../src/data/cifar.js';
import { assertAllClose, assertScalarClose } from '../helpers/close.js';
import { repoRoot, skipUnlessShared } from '../helpers/shared.js';

const DIR = path.join(repoRoot(), 'test', 'fixtures', 'torchscript');
const fx = (name: string): string => path.join(DIR, name);

interface Lip { psi: number; k: number[]; unfair: boolean[]; loss: number; loss_cls: number; loss_adv: number; weight_grads: Record<string, unknown> }
interface Cam { targets: number[]; shape: number[] }
interface NetRef { mean: number[]; std: number[]; input_shape: number[]; y: number[]; lipschitz: Lip; [k: string]: unknown }
const expected = JSON.parse(fs.readFileSync(fx('expected.json'), 'utf8')) as { cnn: NetRef; resnet18n: NetRef; robust?: { input_shape: number[] } };
const arrays = readSafetensors(fx('expected.safetensors')).tensors;
function arr(name: string): Float32Array {
  const t = arrays.get(name);
  assert.ok(t !== undefined, `fixture tensor ${name}`);
  return t.data as Float32Array;
}
function input(net: string): Tensor { return tensor(arr(`${net}/x`), (expected as unknown as Record<string, NetRef>)[net]!.input_shape); }
function load(net: 'cnn' | 'resnet18n', file = net === 'cnn' ? 'cnn_script.pt' : 'resnet18n_script.pt'): ScriptModule {
  const e = expected[net];
  return loadScriptModule(fx(file), { mean: e.mean, std: e.std });
}
function labels(ys: number[]): Tensor { return tensor(BigInt64Array.from(ys.map(BigInt)), [ys.length], { dtype: 'int64' }); }
function oneLine(e: unknown): string { const m = (e as Error).message; assert.ok(!m.includes('\n'), `one line: ${m}`); return m; }

for (const net of ['cnn', 'resnet18n'] as const) {
  test(`${net}: eval logits and input gradients match PyTorch within 1e-5 (scale-aware)`, () => {
    const m = load(net);
    try {
      assert.equal(m.training, false, 'loaded in eval mode');
      tidy(() => {
        const x = input(net).requiresGrad_(true);
        const z = m.call(x);
        assertAllClose(z.data(), arr(`${net}/logits_eval`), { rtol: 1e-5 }, `${net} logits`);
        const [g] = gradOf(crossEntropy(z, labels(expected[net].y), 'sum'), [x]);
        assertAllClose(g!.data(), arr(`${net}/input_grad_eval`), { rtol: 1e-5 }, `${net} input gradient`);
      });
    } finally {
      m.dispose();
    }
  });

  test(`${net}: Lipschitz loss (train mode, double backprop through TorchScript) and its weight gradients within 1e-4`, () => {
    const m = load(net);
    try {
      const ref = expected[net].lipschitz;
      m.train();
      // Three runs: the profiling executor profiles the first and optimises later ones (steady state checked too).
      // Each train-mode pass moves the running statistics: restore them so every run starts from the fixture's.
      const saved = m.namedBuffers().map(([, b]) => [b, keep(b.clone())] as const);
      for (let run = 0; run < 3; run++) tidy(() => {
        for (const [b, c] of saved) noGrad(() => b.copy_(c));
        const choices = { k: labels(ref.k), unfair: tensor(Uint8Array.from(ref.unfair.map(Number)), [ref.unfair.length], { dtype: 'bool' }) };
        const r = lipschitzLoss(m, input(net), labels(expected[net].y), ref.psi, choices);
        assertScalarClose(r.lossCls.item(), ref.loss_cls, { rtol: 1e-5 }, `${net} L_cls`);
        assertScalarClose(r.lossAdv.item(), ref.loss_adv, { rtol: 1e-4 }, `${net} L_adv`);
        const named = m.namedParameters();
        const grads = gradOf(r.loss, named.map(([, p]) => p));
        assert.deepEqual(named.map(([n]) => n), Object.keys(ref.weight_grads), 'parameter names and order');
        named.forEach(([n], i) => {
          const g = grads[i]!.data();
          const want = ref.weight_grads[n];
          if (net === 'cnn') {
            assertAllClose(g, arr(`cnn/wgrad/${n}`), { rtol: 1e-4 }, `cnn ∂L/∂${n}`);
          } else {
            const w = want as { norm: number; sum_abs: number };
            let sq = 0, sa = 0;
            for (const v of g) { sq += v * v; sa += Math.abs(v); }
            assertScalarClose(Math.sqrt(sq), w.norm, { rtol: 1e-4 }, `resnet ‖∂L/∂${n}‖`);
            assertScalarClose(sa, w.sum_abs, { rtol: 1e-4 }, `resnet Σ|∂L/∂${n}|`);
            assertAllClose(g.subarray(0, 16), arr(`resnet18n/wgrad_first/${n}`), { rtol: 1e-4, scale: w.norm }, `resnet ∂L/∂${n}[:16]`);
          }
        });
      });
      for (const [, c] of saved) c.dispose();
    } finally {
      m.dispose();
    }
  });
}

test('train()/eval() reach the jit module: batch statistics in train mode, running statistics in eval', () => {
  const m = load('cnn');
  try {
    const runningMean = m.stateDict().get('features.1.running_mean')!;
    const before = runningMean.data().slice();
    m.train();
    assert.equal(m.jit.training, true);
    assert.equal((findLayer(m, 'features.1') as ScriptChild).training, true, 'children follow');
    noGrad(() => tidy(() => assertAllClose(m.call(input('cnn')).data(), arr('cnn/logits_train'), { rtol: 1e-5 }, 'train-mode logits')));
    assert.notDeepEqual(runningMean.data(), before, 'running mean updated in train mode (shared buffer)');
    m.eval();
    assert.equal(m.jit.training, false);
    inEval(m, () => assert.equal(m.jit.training, false));
  } finally {
    m.dispose();
  }
});

test('traced vs scripted: a traced model has batch norm mode baked in, is flagged with a reason, ignores train()', () => {
  const s = load('cnn');
  const t = load('cnn', 'cnn_traced.pt');
  try {
    assert.equal(s.traced, false);
    assert.equal(s.tracedReason, null);
    assert.equal(t.traced, true);
    assert.match(t.tracedReason!, /traced TorchScript model .*batch_norm.*cannot be fine-tuned.*torch\.jit\.script/);
    assert.ok(!t.tracedReason!.includes('\n'));
    t.train();
    // The traced graph keeps eval-mode batch norm: train() changes nothing.
    noGrad(() => tidy(() => assertAllClose(t.call(input('cnn')).data(), arr('cnn/logits_eval'), { rtol: 1e-5 }, 'traced in train mode')));
  } finally {
    s.dispose();
    t.dispose();
  }
});

test('children, named modules with type names, parameters shared with the module, submodule forward by name', () => {
  const m = load('resnet18n');
  try {
    assert.deepEqual(m.children().map(([n]) => n), ['conv1', 'bn1', 'relu', 'maxpool', 'layer1', 'layer2', 'layer3', 'layer4', 'avgpool', 'fc']);
    const l4 = findLayer(m, 'layer4.1') as ScriptChild;
    assert.match(l4.typeName, /torchvision\.models\.resnet\.BasicBlock$/);
    assert.deepEqual(l4.children().map(([n]) => n), ['conv1', 'bn1', 'relu', 'conv2', 'bn2']);
    assert.deepEqual(l4.namedParameters().map(([n]) => n).slice(0, 2), ['conv1.weight', 'bn1.weight']);
    const mods = new Map(m.jit.namedModules());
    assert.match(mods.get('layer4.0.downsample')!, /container\.Sequential$/);
    assert.match(mods.get('fc')!, /linear\.Linear$/);
    assert.equal(m.namedParameters().length, 62);
    assert.equal(m.stateDict().size, 62 + 3 * 20, 'parameters and buffers (running mean/var, batches tracked per BN)');
    // callModule by dotted name = the child's own forward.
    tidy(() => {
      const x = m.normalise(input('resnet18n'));
      const a = m.jit.callModule('conv1', x);
      const b = findLayer(m, 'conv1').call(x);
      assert.deepEqual(a.data(), b.data());
      assert.throws(() => m.jit.callModule('layer9', x), /no submodule 'layer9'/);
    });
  } finally {
    m.dispose();
  }
});

test('Grad-CAM through the verified chain of children equals PyTorch\'s forward-hook Grad-CAM', () => {
  const cases: [net: 'cnn' | 'resnet18n', layer: string | undefined, key: string][] = [
    ['resnet18n', undefined, 'gradcam_layer4'], ['resnet18n', 'layer3.1', 'gradcam_layer3.1'],
    ['cnn', 'features.3', 'gradcam_features.3'], ['cnn', undefined, 'gradcam_features'],
  ];
  for (const [net, layer, key] of cases) {
    const m = load(net);
    try {
      const want = expected[net][key] as Cam;
      if (layer === undefined) assert.equal(m.camLayer(), key.replace('gradcam_', ''), `${net} default CAM layer`);
      const x = input(net);
      const r = new GradCAM(layer === undefined ? {} : { layer }).attribute(m, x, Int32Array.from(want.targets));
      x.dispose();
      assert.deepEqual([r.details.camHeight, r.details.camWidth], want.shape.slice(1));
      assertAllClose(r.details.cam, arr(`${net}/${key}`), { rtol: 1e-5 }, `${net} Grad-CAM ${key}`);
      // Hooks removed: the plain jit forward again.
      tidy(() => assertAllClose(m.call(input(net)).data(), arr(`${net}/logits_eval`), { rtol: 1e-5 }, 'after Grad-CAM'));
    } finally {
      m.dispose();
    }
  }
});

test('the Grad-CAM attack (double backprop through the chain of children) runs on a TorchScript model', () => {
  const m = load('resnet18n');
  try {
    const x = input('resnet18n');
    const r = camPreservingAttack(m, x, Int32Array.of(2, 7), Int32Array.of(5, 1), { steps: 5, rho: 0.05 });
    x.dispose();
    assert.equal(r.rms.length, 2);
    assert.ok(r.rms.every((v) => Number.isFinite(v) && v > 0 && v <= 0.05 + 1e-6), `rms ${Array.from(r.rms)}`);
    assert.ok(r.camLoss.every(Number.isFinite));
    assert.equal(m.parameters().every((p) => p.requiresGrad), true, 'parameters unfrozen after');
  } finally {
    m.dispose();
  }
});

test('the published robust net exported with torch.jit.script: same logits and predictions as its safetensors, same ARA distances', (t) => {
  const shared = skipUnlessShared(t, 'models/reference/resnet44-robust.safetensors', 'data/cifar10/data_batch_1.bin');
  if (shared === null) return;
  if (!fs.existsSync(fx('robust_script.pt'))) {
    console.warn('\n*** SKIPPED: test/fixtures/torchscript/robust_script.pt absent: run /usr/bin/python3 bench/make_script_fixtures.py ***\n');
    t.skip('robust_script.pt absent');
    return;
  }
  const ts = loadScriptModule(fx('robust_script.pt'));
  const { model: st } = loadModel(path.join(shared, 'models/reference/resnet44-robust.safetensors'));
  try {
    assert.equal(ts.traced, false);
    const data = readCifarBatch(path.join(shared, 'data/cifar10/data_batch_1.bin'), { limit: 16 });
    tidy(() => {
      const x = tensor(data.floats(), [16, 3, 32, 32]);
      const a = noGrad(() => ts.call(x)), b = noGrad(() => st.call(x));
      assertAllClose(a.data(), b.data(), { rtol: 2e-5 }, 'robust: TorchScript vs safetensors logits');
      assert.deepEqual(a.argmax(1).toArray(), b.argmax(1).toArray(), 'predictions');
      const xr = tensor(arr('robust/x'), expected.robust!.input_shape);
      assertAllClose(noGrad(() => ts.call(xr)).data(), arr('robust/logits_eval'), { rtol: 2e-5 }, 'robust: TorchScript vs PyTorch eager');
    });
    // Grad-CAM: its forward normalises with input_offset before `pipe`, so no chain of children reaches pipe.3.
    assert.equal(ts.camLayer(), null);
    tidy(() => {
      const x = tensor(data.floats().subarray(0, 3072), [1, 3, 32, 32]);
      assert.throws(() => new GradCAM({ layer: 'pipe.3' }).attribute(ts, x, Int32Array.of(0)),
        (e) => /layer 'pipe\.3' is not reachable in the TorchScript model .*running the children of the model, 'pipe' in order, and they/.test(oneLine(e)));
    });
    // Double backprop through the exported half-Huber net (second derivative 1/d, METHOD.md §2) against advexp's own
    // PreActResNet on the same weights (itself checked against PyTorch in parity.test.ts): the Lipschitz loss in
    // train mode and its weight gradients, twice (the profiling executor's first and later runs).
    ts.train();
    st.train();
    for (let run = 0; run < 2; run++) tidy(() => {
      const x = tensor(data.floats(0, 8), [8, 3, 32, 32]);
      const y = tensor(BigInt64Array.from(Array.from(data.labels.subarray(0, 8), BigInt)), [8], { dtype: 'int64' });
      const choices = { k: labels([1, 5, 2, 8, 0, 3, 9, 4]), unfair: tensor(Uint8Array.of(0, 1, 0, 0, 1, 0, 0, 0), [8], { dtype: 'bool' }) };
      const ra = lipschitzLoss(ts, x, y, 220, choices), rb = lipschitzLoss(st, x, y, 220, choices);
      assertScalarClose(ra.lossAdv.item(), rb.lossAdv.item(), { rtol: 1e-4 }, 'robust L_adv');
      const pa = ts.namedParameters(), pb = new Map(st.namedParameters());
      assert.deepEqual(pa.map(([n]) => n).sort(), [...pb.keys()].sort(), 'same parameter names');
      const ga = gradOf(ra.loss, pa.map(([, p]) => p)), gb = gradOf(rb.loss, pa.map(([n]) => pb.get(n)!));
      pa.forEach(([n], i) => assertAllClose(ga[i]!.data(), gb[i]!.data(), { rtol: 1e-4 }, `robust ∂L/∂${n}`));
    });
    ts.eval();
    st.eval();
    const four = readCifarBatch(path.join(shared, 'data/cifar10/data_batch_1.bin'), { limit: 4 });
    const da = araDistances(ts, four, four.labels, 'attack', { steps: 30, batch: 4 });
    const db = araDistances(st, four, four.labels, 'attack', { steps: 30, batch: 4 });
    assertAllClose(Array.from(da.distances), Array.from(db.distances), { rtol: 1e-5 }, 'robust ARA distances');
  } finally {
    ts.dispose();
    st.dispose();
  }
});

test('a torch.save pickle is refused with the export command; missing and corrupt files are one line naming them', () => {
  for (const f of ['statedict.pt', 'statedict_legacy.pt']) {
    assert.throws(() => loadScriptModule(fx(f)), (e) => {
      const m = oneLine(e);
      return m.startsWith(fx(f)) && /torch\.save pickle.*torch\.jit\.script\(model\)\.save\(f\).*torch\.jit\.trace/.test(m);
    });
  }
  assert.throws(() => loadScriptModule(fx('nope.pt')), (e) => /nope\.pt: cannot read TorchScript model \(ENOENT\)/.test(oneLine(e)));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'advexp-ts-'));
  try {
    const bad = path.join(dir, 'cut.pt');
    const bytes = fs.readFileSync(fx('cnn_script.pt'));
    fs.writeFileSync(bad, bytes.subarray(0, bytes.length >> 1));
    assert.throws(() => loadScriptModule(bad), (e) => oneLine(e).startsWith(`${bad}: not a TorchScript file (`));
    fs.writeFileSync(bad, 'hello');
    assert.throws(() => loadScriptModule(bad), (e) => oneLine(e).startsWith(`${bad}: not a TorchScript file (`));
    assert.throws(() => loadScriptModule(dir), (e) => /cannot read TorchScript model \(not a regular file\)/.test(oneLine(e)));
    assert.throws(() => loadScriptModule(fx('cnn_script.pt'), { mean: [0.5], std: [0.1, 0.2] }), /mean has 1 values and std 2/);
    const plain = loadScriptModule(fx('cnn_script.pt'));
    // The interpreter's two tracebacks are cut down to the error line.
    assert.throws(() => tidy(() => plain.call(tensor(new Float32Array(4 * 64), [1, 4, 8, 8]))),
      (e) => /^libtorch: TorchScript forward failed: RuntimeError: .*expected input\[1, 4, 8, 8\] to have 3 channels/.test(oneLine(e)));
    plain.dispose();
    const m = loadScriptModule(fx('cnn_script.pt'), { mean: [0, 0, 0, 0], std: [1, 1, 1, 1] });
    assert.throws(() => tidy(() => m.call(input('cnn'))), (e) => /takes \[B, 4, H, W\] images.*got \[4, 3, 16, 16\]/.test(oneLine(e)));
    m.dispose();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('SGD on the shared parameters changes the jit module; save then reload gives the updated logits', () => {
  const m = load('cnn');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'advexp-ts-'));
  try {
    const x = keep(input('cnn'));
    const before = noGrad(() => tidy(() => m.call(x).data()));
    const opt = new Sgd(m.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 });
    for (let i = 0; i < 2; i++) {
      opt.zeroGrad();
      m.train();
      tidy(() => {
        const loss = crossEntropy(m.call(x), labels(expected.cnn.y));
        const grads = gradOf(loss, m.parameters());
        m.parameters().forEach((p, j) => { p.grad = grads[j]!; });
      });
      opt.step();
    }
    m.eval();
    const after = noGrad(() => tidy(() => m.call(x).data()));
    assert.ok(after.some((v, i) => Math.abs(v - before[i]!) > 1e-4), 'the update reached the jit forward');
    const file = path.join(dir, 'tuned.pt');
    saveScriptModule(file, m);
    assert.deepEqual(fs.readdirSync(dir), ['tuned.pt'], 'no temp file left');
    const back = loadScriptModule(file, { mean: expected.cnn.mean, std: expected.cnn.std });
    try {
      assert.deepEqual(noGrad(() => tidy(() => back.call(x).data())), after, 'reloaded = updated');
      assert.deepEqual(back.stateDict().get('features.1.running_var')!.data(), m.stateDict().get('features.1.running_var')!.data(), 'buffers saved');
    } finally {
      back.dispose();
    }
    x.dispose();
    for (const b of opt.buffers) b?.dispose();
    for (const p of m.parameters()) p.grad = null;
  } finally {
    m.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('memory: 200 forward/backward steps (input and weight gradients) keep liveTensors and modules constant; dispose frees all', () => {
  const tensors0 = liveTensors(), modules0 = liveJitModules();
  const m = load('resnet18n');
  const x = keep(input('resnet18n'));
  const y = keep(labels(expected.resnet18n.y));
  const step = (): void => tidy(() => {
    const xi = x.detach().requiresGrad_(true);
    const loss = crossEntropy(m.call(xi), y);
    const gs = gradOf(loss, [xi, ...m.parameters()]);
    gs[0]!.sum().item();
  });
  for (let i = 0; i < 5; i++) step();
  const live = liveTensors();
  for (let i = 0; i < 200; i++) step();
  assert.equal(liveTensors(), live, 'live tensors after 200 steps');
  x.dispose();
  y.dispose();
  m.dispose();
  assert.equal(liveTensors(), tensors0, 'every handle freed by dispose');
  assert.equal(liveJitModules(), modules0, 'every module handle freed by dispose');
});
