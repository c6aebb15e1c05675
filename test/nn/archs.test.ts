// The built-in torchvision ResNet and RobustBench WideResNet against PyTorch: test/fixtures/archs/, written by
// bench/make_arch_fixtures.py from torchvision's own ResNet class (made narrow) and the RobustBench layout, holds the
// state dicts as PyTorch saves them (num_batches_tracked included; the WideResNets in F16) and, per case, images,
// labels, eval logits, the input gradient of Σ log_softmax(logits)[y], and for some a train-mode forward.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { tensor, tidy, keep, noGrad, gradOf, liveTensors, setNumThreads, type Tensor } from '../../src/engine/index.js';
import { readSafetensors, type StTensor } from '../../src/io/safetensors.js';
import {
  Module, TorchvisionResNet, WideResNet, torchvisionResnetStateShapes, wideResnetStateShapes, checkTorchvisionResnetConfig,
  checkWideResnetConfig, withoutBatchCounters, inferTorchvisionResnetConfig, inferWideResnetConfig, resnetStateShapes,
  architecture, torchvisionResnetArchitecture, wideResnetArchitecture, type TorchvisionResNetConfig, type WideResNetConfig,
} from '../../src/nn/index.js';
import { findLayer, forwardWithActivation } from '../../src/explain/gradcam.js';
import { assertAllClose } from '../helpers/close.js';
import { repoRoot } from '../helpers/shared.js';

const FIXTURES = path.join(repoRoot(), 'test', 'fixtures', 'archs');
/** The bound: logits and input gradients within 1e-5 of PyTorch's, scale-aware per tensor. */
const TOL = { rtol: 1e-5 };

type Arch = 'torchvision-resnet' | 'wide-resnet';
interface Built { model: TorchvisionResNet | WideResNet; shapes: Generator<[string, number[]]> }

function build(arch: Arch, raw: unknown, where: string): Built {
  if (arch === 'torchvision-resnet') {
    const c = checkTorchvisionResnetConfig(raw, where);
    return { model: new TorchvisionResNet(c), shapes: torchvisionResnetStateShapes(c) };
  }
  const c = checkWideResnetConfig(raw, where);
  return { model: new WideResNet(c), shapes: wideResnetStateShapes(c) };
}

/** The network a weights fixture describes (metadata advexp_model: {arch, ...config}), loaded strictly. */
function loadFixture(name: string): { model: TorchvisionResNet | WideResNet; tensors: Map<string, StTensor> } {
  const file = path.join(FIXTURES, `${name}.safetensors`);
  const st = readSafetensors(file);
  const { arch, ...config } = JSON.parse(st.metadata.advexp_model!) as { arch: Arch };
  const { model, shapes } = build(arch, config, file);
  const tensors = withoutBatchCounters(st.tensors);
  // The file, less its counters, is exactly the state-shape generator's list, in order.
  assert.deepEqual([...tensors].map(([n, t]) => [n, t.shape]), [...shapes]);
  model.loadStateDict(tensors);
  return { model: model.eval(), tensors };
}

function images(io: Map<string, StTensor>): Tensor {
  const u8 = io.get('images')!;
  return tidy(() => tensor(u8.data as Uint8Array, u8.shape).cast('float32').div(255));
}

const f32 = (t: StTensor): Float32Array => t.data as Float32Array;

const CASES = ['resnet18-w4-32', 'resnet18-w4-45x61', 'resnet18-w4-224', 'resnet50-w2-64', 'wrn-10-2-32', 'wrn-16-1-32'];

for (const name of CASES) {
  test(`${name}: logits and input gradient match PyTorch`, () => {
    setNumThreads(1);
    const ioFile = readSafetensors(path.join(FIXTURES, `${name}.io.safetensors`));
    const io = ioFile.tensors;
    const { model } = loadFixture(ioFile.metadata.weights!.replace(/\.safetensors$/, ''));
    const before = liveTensors();
    tidy(() => {
      const x = images(io).requiresGrad_(true);
      const labels = tensor(io.get('labels')!.data, io.get('labels')!.shape);
      const logits = model.call(x);
      assertAllClose(logits.data(), f32(io.get('logits')!), TOL, `${name} logits`);
      const loss = logits.logSoftmax(1).gather(1, labels.unsqueeze(1)).sum();
      const [g] = gradOf(loss, [x]);
      const gv = g!.data();
      const full = io.get('grad');
      if (full !== undefined) {
        assertAllClose(gv, f32(full), TOL, `${name} input gradient`);
      } else {
        // 224×224: every k-th element, and the sum, L1 and L2 norm of all of it (float64 on both sides).
        const sub = f32(io.get('grad_sub')!);
        const stride = Math.ceil(gv.length / sub.length);
        assertAllClose(Float32Array.from(sub, (_, i) => gv[i * stride]!), sub, TOL, `${name} input gradient (every ${stride}th)`);
        let s = 0, l1 = 0, l2 = 0;
        for (const v of gv) { s += v; l1 += Math.abs(v); l2 += v * v; }
        const stats = io.get('grad_stats')!.data as Float64Array;
        // The sum is a difference of large numbers: judged against the L1 norm.
        assertAllClose([s], [stats[0]!], { ...TOL, scale: stats[1]! }, `${name} Σ gradient`);
        assertAllClose([l1, Math.sqrt(l2)], [stats[1]!, stats[2]!], TOL, `${name} gradient norms`);
      }
    });
    assert.equal(liveTensors(), before, 'every tensor of the forward and backward is freed');
    // Inference (no autograd recording: torchvision ResNet blocks add and relu in place) gives the same logits.
    noGrad(() => tidy(() => assertAllClose(model.call(images(io)).data(), f32(io.get('logits')!), TOL, `${name} logits without autograd`)));
    assert.equal(liveTensors(), before, 'every tensor of the no-grad forward is freed');
    const train = io.get('train_logits');
    if (train !== undefined) {
      // Train mode: batch statistics, and the running mean of bn1 moved by momentum 0.1.
      model.train();
      noGrad(() => tidy(() => {
        assertAllClose(model.call(images(io)).data(), f32(train), TOL, `${name} train-mode logits`);
      }));
      assertAllClose(model.bn1.runningMean.data(), f32(io.get('train_bn1_running_mean')!), TOL, `${name} bn1 running mean after a train step`);
    }
    model.dispose();
  });
}

test('Grad-CAM default layers: layer4 and block3, one activation each, of the expected shape', () => {
  for (const [name, layer, shape] of [['resnet18-w4', 'layer4', [2, 32, 2, 2]], ['wrn-16-1', 'block3', [2, 64, 8, 8]]] as const) {
    const { model } = loadFixture(name);
    assert.equal(model.camLayer(), layer);
    tidy(() => {
      const x = tensor(new Float32Array(2 * 3 * 64 * 64).fill(0.5), [2, 3, 64, 64]);
      const xs = name === 'wrn-16-1' ? x.slice(2, 0, 32).slice(3, 0, 32) : x;
      const { activation } = forwardWithActivation(model, findLayer(model, layer), layer, xs);
      assert.deepEqual(activation.shape, shape);
      activation.dispose();
    });
    model.dispose();
  }
});

test('state-shape generators list exactly the built modules\' state dicts', () => {
  const same = (m: Module, shapes: Generator<[string, number[]]>, what: string): void => {
    assert.deepEqual([...m.stateDict()].map(([n, t]) => [n, [...t.shape]]), [...shapes], what);
    m.dispose();
  };
  for (const depth of [18, 34, 50, 101, 152] as const) {
    for (const c of [{ depth, width: 2, classes: 7, inputChannels: 1 }, { depth, width: 3, classes: 2, inputChannels: 4 }]) {
      same(new TorchvisionResNet(c), torchvisionResnetStateShapes(c), `ResNet ${JSON.stringify(c)}`);
    }
  }
  for (const c of [{ depth: 10, widen: 1 }, { depth: 16, widen: 2, subBlock1: true }, { depth: 28, widen: 1, classes: 100 }, { depth: 34, widen: 3, inputChannels: 1 }]) {
    const full = { classes: 10, inputChannels: 3, ...c };
    same(new WideResNet(full), wideResnetStateShapes(full), `WideResNet ${JSON.stringify(full)}`);
  }
  // Full-size counts against torchvision's and RobustBench's state dicts (less the num_batches_tracked counters).
  const count = (g: Generator<[string, number[]]>): [number, number] => {
    let n = 0, p = 0;
    for (const [, s] of g) { n++; p += s.reduce((a, b) => a * b, 1); }
    return [n, p];
  };
  const bnCounters = { 18: 20, 34: 36, 50: 53 } as const;
  // Tensor counts of torchvision's state_dict() (less one counter per batch norm) and parameter+buffer elements.
  assert.deepEqual(count(torchvisionResnetStateShapes({ depth: 18, width: 64, classes: 1000, inputChannels: 3 })), [122 - bnCounters[18], 11_699_112]);
  assert.deepEqual(count(torchvisionResnetStateShapes({ depth: 34, width: 64, classes: 1000, inputChannels: 3 })), [218 - bnCounters[34], 21_814_696]);
  assert.deepEqual(count(torchvisionResnetStateShapes({ depth: 50, width: 64, classes: 1000, inputChannels: 3 })), [320 - bnCounters[50], 25_610_152]);
  assert.deepEqual(count(wideResnetStateShapes({ depth: 28, widen: 10, classes: 10, inputChannels: 3 })), [155 - 25, 36_497_146]);
  assert.deepEqual(count(wideResnetStateShapes({ depth: 28, widen: 10, classes: 10, inputChannels: 3, subBlock1: true })), [204 - 33, 38_140_090]);
});

test('num_batches_tracked: files with or without the counters load; other names ending so are kept', () => {
  const st = readSafetensors(path.join(FIXTURES, 'resnet18-w4.safetensors'));
  const counters = [...st.tensors.keys()].filter((n) => n.endsWith('.num_batches_tracked'));
  assert.equal(counters.length, 20);
  assert.equal(st.tensors.get('bn1.num_batches_tracked')!.dtype, 'I64');
  const stripped = withoutBatchCounters(st.tensors);
  assert.equal(stripped.size, st.tensors.size - 20);
  assert.equal(withoutBatchCounters(stripped).size, stripped.size);
  const odd = new Map([['head.num_batches_tracked', 1], ['bn.running_mean', 2], ['bn.num_batches_tracked', 3]]);
  assert.deepEqual([...withoutBatchCounters(odd).keys()], ['head.num_batches_tracked', 'bn.running_mean']);
  // A strict load of the raw file names the counters (the loader strips them first).
  const m = new TorchvisionResNet({ depth: 18, width: 4, classes: 10 });
  assert.throws(() => m.loadStateDict(st.tensors), /unexpected bn1\.num_batches_tracked/);
  m.dispose();
});

test('config checkers: one-line errors naming the field; defaults filled in', () => {
  const tv = (raw: unknown): TorchvisionResNetConfig => checkTorchvisionResnetConfig(raw, 'm.safetensors: metadata');
  const wrn = (raw: unknown): WideResNetConfig => checkWideResnetConfig(raw, 'm.safetensors: metadata');
  assert.deepEqual(tv({ depth: 50, classes: 1000 }), {
    depth: 50, width: 64, classes: 1000, inputChannels: 3, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225],
  });
  assert.deepEqual(tv({ depth: 18, classes: 2, inputChannels: 1 }).mean, [0]);
  assert.deepEqual(wrn({ depth: 28, widen: 10, classes: 10 }), {
    depth: 28, widen: 10, classes: 10, inputChannels: 3, mean: [0, 0, 0], std: [1, 1, 1], dropRate: 0, subBlock1: false,
  });
  const cases: [() => unknown, RegExp][] = [
    [() => tv(null), /^m\.safetensors: metadata: config: expected a JSON object, got null$/],
    [() => tv([18]), /config: expected a JSON object/],
    [() => tv({ depth: 20, classes: 10 }), /^m\.safetensors: metadata: depth: expected one of 18, 34, 50, 101, 152, got 20$/],
    [() => tv({ depth: '18', classes: 10 }), /depth: expected one of .*, got "18"/],
    [() => tv({ depth: 18, classes: 0 }), /classes: expected a positive integer, got 0/],
    [() => tv({ depth: 18, classes: 10, width: 2.5 }), /width: expected a positive integer/],
    [() => tv({ depth: 18, classes: 10, inputChannels: 1, mean: [0.5, 0.5, 0.5] }), /mean: expected 1 finite number\(s\), one a channel, got \[0\.5,0\.5,0\.5\]/],
    [() => tv({ depth: 18, classes: 10, std: [1, 0, 1] }), /std: expected 3 positive number\(s\)/],
    [() => tv({ depth: 18, classes: 10, mean: [0, null, 0] }), /mean: expected/],
    [() => wrn({ depth: 27, widen: 10, classes: 10 }), /^m\.safetensors: metadata: depth: expected 6n\+4 ≥ 10 .*, got 27$/],
    [() => wrn({ depth: 4, widen: 10, classes: 10 }), /depth: expected 6n\+4/],
    [() => wrn({ depth: 28, widen: 0, classes: 10 }), /widen: expected a positive integer, got 0/],
    [() => wrn({ depth: 28, widen: 10 }), /classes: expected a positive integer, got nothing/],
    [() => wrn({ depth: 28, widen: 10, classes: 10, dropRate: 1 }), /dropRate: expected a number in \[0, 1\), got 1/],
    [() => wrn({ depth: 28, widen: 10, classes: 10, subBlock1: 1 }), /subBlock1: expected true or false, got 1/],
    [() => wrn({ depth: 28, widen: 10, classes: 10, std: 'x\ny' }), /std: expected .*, got "x\\ny"$/],
  ];
  for (const [f, re] of cases) {
    assert.throws(f, (e: Error) => { assert.match(e.message, re); assert.ok(!e.message.includes('\n')); return true; });
  }
});

test('a wrong channel count is a one-line error naming the model', () => {
  const m = new TorchvisionResNet({ depth: 18, width: 2, classes: 3 });
  assert.throws(() => tidy(() => m.call(tensor(new Float32Array(32 * 32), [1, 1, 32, 32]))), /^Error: ResNet-18 takes images \[B, 3, H, W\], got \[1, 1, 32, 32\]$/);
  m.dispose();
  const w = new WideResNet({ depth: 10, widen: 1, inputChannels: 1 });
  assert.throws(() => tidy(() => w.call(tensor(new Float32Array(3 * 32 * 32), [1, 3, 32, 32]))), /WideResNet-10-1 takes images \[B, 1, H, W\]/);
  w.dispose();
});

test('configs read off state-dict names: each layout recognises its own files and no other', () => {
  const shapesOf = (g: Iterable<[string, number[]]>): Map<string, { shape: number[] }> => new Map([...g].map(([n, shape]) => [n, { shape }]));
  for (const name of ['resnet18-w4', 'resnet50-w2', 'wrn-10-2', 'wrn-16-1']) {
    const st = readSafetensors(path.join(FIXTURES, `${name}.safetensors`));
    const { arch, ...stated } = JSON.parse(st.metadata.advexp_model!) as Record<string, unknown>;
    const [own, other] = arch === 'torchvision-resnet' ? [inferTorchvisionResnetConfig, inferWideResnetConfig] : [inferWideResnetConfig, inferTorchvisionResnetConfig];
    const inferred = own(st.tensors)!;
    for (const k of Object.keys(inferred)) assert.deepEqual(inferred[k], stated[k], `${name}: ${k}`);
    assert.equal(other(st.tensors), null, `${name} is not the other layout`);
  }
  for (const depth of [34, 101, 152] as const) {
    const c = { depth, width: 64, classes: 1000, inputChannels: 3 };
    assert.deepEqual(inferTorchvisionResnetConfig(shapesOf(torchvisionResnetStateShapes(c))), c);
  }
  const wrn = { depth: 28, widen: 10, classes: 100, inputChannels: 1, subBlock1: true };
  assert.deepEqual(inferWideResnetConfig(shapesOf(wideResnetStateShapes(wrn))), wrn);
  const preact = shapesOf(resnetStateShapes({ depth: 20, widths: [16, 32, 64], classes: 10, activation: 'relu', inputChannels: 3 }));
  assert.equal(inferTorchvisionResnetConfig(preact), null);
  assert.equal(inferWideResnetConfig(preact), null);
  // A torchvision-style net of no known depth (blocks 1,1,1,1) is not guessed at.
  const odd = shapesOf([...torchvisionResnetStateShapes({ depth: 18, width: 8, classes: 10, inputChannels: 3 })].filter(([n]) => !/^layer\d\.1\./.test(n)));
  assert.equal(inferTorchvisionResnetConfig(odd), null);
});

test('forward hooks on batch norms keep their outputs unchanged by the in-place relu and residual of inference', () => {
  const { model } = loadFixture('resnet50-w2');
  const x = tensor(new Float32Array(3 * 64 * 64).map((_, i) => (i % 97) / 96), [1, 3, 64, 64]);
  // The stem's bn (a relu follows), a block's first bn (a relu follows), a block's last bn (the residual follows).
  for (const name of ['bn1', 'layer1.0.bn1', 'layer1.0.bn3']) {
    const bn = findLayer(model, name);
    const held: Tensor[] = [];
    // Keeps a view of the bn output (same storage) and a copy; returns the output itself to the network.
    bn.forwardHook = (out) => { held.push(keep(out.reshape(out.shape)), keep(out.clone())); return out; };
    noGrad(() => tidy(() => { model.call(x); }));
    bn.forwardHook = null;
    const [view, copy] = held as [Tensor, Tensor];
    assert.ok(copy.data().some((v) => v < 0), `${name}: the output has negatives, which an in-place relu would zero`);
    assert.deepEqual(Array.from(view.data()), Array.from(copy.data()), name);
    for (const t of held) t.dispose();
  }
  x.dispose();
  model.dispose();
});

test('registered architectures: torchvision-resnet and wide-resnet build, describe, take input and train as stated', () => {
  const tv = architecture('torchvision-resnet'), wrn = architecture('wide-resnet');
  assert.equal(tv, torchvisionResnetArchitecture);
  assert.equal(wrn, wideResnetArchitecture);
  const c = tv.check({ depth: 50, classes: 1000 }, 'x');
  assert.equal(tv.describe(c), 'ResNet-50 (torchvision, width 64), 1000 classes, 3 channels');
  assert.deepEqual(tv.input(c), { channels: 3, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
  const shape = { classes: 5, input: { channels: 1, mean: [0.5], std: [0.25] }, depth: 18, widths: [8], activation: 'relu' as const };
  const tc = tv.forTraining(shape) as TorchvisionResNetConfig;
  assert.deepEqual(tc, { depth: 18, width: 8, classes: 5, inputChannels: 1, mean: [0.5], std: [0.25] });
  assert.throws(() => tv.forTraining({ ...shape, depth: 44 }), /^Error: torchvision-resnet: --depth: expected one of 18, 34, 50, 101, 152, got 44$/);
  const m = tv.build(tc);
  assert.deepEqual(m.architecture(), { name: 'torchvision-resnet', config: tc });
  m.dispose();
  const wc = wrn.forTraining({ ...shape, depth: 16, widths: [16, 32, 64] }) as WideResNetConfig;
  assert.deepEqual(wc, { depth: 16, widen: 10, classes: 5, inputChannels: 1, mean: [0.5], std: [0.25], dropRate: 0, subBlock1: false });
  assert.throws(() => wrn.forTraining({ ...shape, depth: 44 }), /depth: expected 6n\+4/);
  assert.equal(wrn.describe(wrn.check({ depth: 28, widen: 10, classes: 10, subBlock1: true }, 'x')), 'WideResNet-28-10 (RobustBench, with sub_block1), 10 classes, 3 channels');
  const w = wrn.build(wrn.check({ depth: 10, widen: 1, classes: 10 }, 'x'));
  assert.equal(w.architecture()!.name, 'wide-resnet');
  w.dispose();
});
