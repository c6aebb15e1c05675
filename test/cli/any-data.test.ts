// Issue 12: every command runs on data of any size and channel count. A tiny 1-channel model trained by the CLI on a
// folder of 20×20 grayscale PNGs goes through predict, eval, explain and explain-eval at its own size; an RGB CIFAR
// model is fed the gray folder tripled; a file of another size gets a note saying what was done.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import pngjs from 'pngjs';
import { loadModel, saveModel } from '../../src/io/model-file.js';
import { PreActResNet } from '../../src/nn/index.js';
import { manualSeed } from '../../src/engine/index.js';
import { tmpDir } from '../data/make-cifar.js';
import { advexp } from '../helpers/cli.js';

const root = tmpDir('advexp-any-data-');
process.on('exit', () => fs.rmSync(root, { recursive: true, force: true }));

/** A folder of 20×20 gray PNGs, two classes told apart by brightness. */
function grayFolder(n: number): string {
  const dir = path.join(root, 'xray');
  for (const [c, base] of [['normal', 40], ['pneumonia', 180]] as const) {
    fs.mkdirSync(path.join(dir, c), { recursive: true });
    for (let i = 0; i < n; i++) {
      const png = new pngjs.PNG({ width: 20, height: 20 });
      for (let p = 0; p < 400; p++) {
        const v = (base + ((p * 7 + i * 13) % 50)) & 255;
        png.data[p * 4] = v; png.data[p * 4 + 1] = v; png.data[p * 4 + 2] = v; png.data[p * 4 + 3] = 255;
      }
      fs.writeFileSync(path.join(dir, c, `${String(i).padStart(3, '0')}.png`), pngjs.PNG.sync.write(png, { colorType: 0 }));
    }
  }
  return dir;
}

const data = grayFolder(6);

test('train on a gray folder: a 1-channel model at the data\'s own 20×20, normalised with its statistics', () => {
  const out = path.join(root, 'run');
  const r = advexp(['train', '--data', data, '--out', out, '--val', '4', '--epochs', '1', '--depth', '8', '--widths', '4,4,8', '--batch', '4',
    '--mode', 'standard', '--threads', '1', '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  const m = loadModel(path.join(out, 'model.safetensors'));
  try {
    assert.deepEqual(m.input, { channels: 1, size: [20, 20] });
    assert.deepEqual(m.classNames, ['normal', 'pneumonia']);
    const off = (m.config as { inputOffset: number[][] }).inputOffset;
    assert.equal(off[0]!.length, 1);
    assert.ok(off[0]![0]! > 0.2 && off[0]![0]! < 0.8, `mean ${off[0]![0]}`);
  } finally {
    m.model.dispose();
  }
});

test('predict, eval, explain and explain-eval take the folder for a 1-channel model; predict --json lists the files', () => {
  const model = path.join(root, 'gray.safetensors');
  manualSeed(3);
  saveModel(model, new PreActResNet({ depth: 8, widths: [4, 4, 8], classes: 2, inputChannels: 1, inputOffset: [[0.5], [0.25]] }),
    { input_size: JSON.stringify([20, 20]) });
  const p = advexp(['predict', '--model', model, '--data', data, '--json', '-', '--threads', '1', '--quiet']);
  assert.equal(p.code, 0, p.stderr);
  const pj = JSON.parse(p.stdout) as { n: number; images: { file: string; label: number; prediction: number }[] };
  assert.equal(pj.n, 12);
  assert.deepEqual(pj.images[0], { file: path.join('normal', '000.png'), label: 0, prediction: pj.images[0]!.prediction });
  assert.equal(pj.images[11]!.file, path.join('pneumonia', '005.png'));
  // (ARA on 1-channel models: test/cli/grayscale.test.ts, on a trained X-ray net; this random net may not cross.)
  const e = advexp(['eval', '--model', model, '--data', data, '--ara', 'none', '--pgd', 'linf', '--pgd-steps', '2',
    '--json', '-', '--threads', '1', '--quiet']);
  assert.equal(e.code, 0, e.stderr);
  const ej = JSON.parse(e.stdout) as { n: number; pgd: { linf: { accuracy: number } } };
  assert.equal(ej.n, 12, '--n defaults to all images when fewer than 1000');
  assert.ok(ej.pgd.linf.accuracy >= 0 && ej.pgd.linf.accuracy <= 1);
  const out = path.join(root, 'explain');
  const x = advexp(['explain', '--model', model, '--data', data, '--index', '0,7', '--methods', 'ae,gradcam,lime', '--steps', '5',
    '--lime-samples', '20', '--out', out, '--threads', '1', '--quiet']);
  assert.equal(x.code, 0, x.stderr);
  const png = pngjs.PNG.sync.read(fs.readFileSync(path.join(out, 'explain.png')));
  assert.ok(png.width > 20 * 4 && png.height > 20 * 4);
  const ee = advexp(['explain-eval', '--model', model, '--data', data, '--n', '4', '--methods', 'saliency,random', '--json', '-', '--threads', '1', '--quiet']);
  assert.equal(ee.code, 0, ee.stderr);
  assert.equal((JSON.parse(ee.stdout) as { settings: { n: number } }).settings.n, 4);
});

test('an RGB CIFAR model gets the gray folder tripled and fitted to 32×32; an image file of another size gets a note', () => {
  const model = path.join(root, 'rgb.safetensors');
  saveModel(model, new PreActResNet({ depth: 8, widths: [4, 4, 8] }));
  const p = advexp(['predict', '--model', model, '--data', data, '--threads', '1', '--quiet']);
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stdout, /on 12 images of/);
  const file = path.join(data, 'normal', '000.png');
  const out = path.join(root, 'explain-rgb');
  const x = advexp(['explain', '--model', model, file, '--methods', 'saliency', '--targets', 'true', '--steps', '3', '--out', out, '--threads', '1', '--quiet']);
  assert.equal(x.code, 0, x.stderr);
  assert.match(x.stdout, /000\.png: 20×20 resized to 32×32/);
  const bad = advexp(['predict', '--model', model, '--data', data, '--resize', 'squash', '--threads', '1']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--resize: expected crop or stretch, got 'squash'/);
});

test('train --arch resnet18 (an alias of torchvision-resnet) on the gray folder: 1 input channel, the data\'s statistics', () => {
  const out = path.join(root, 'run-r18');
  const r = advexp(['train', '--arch', 'resnet18', '--widths', '4', '--data', data, '--size', '32', '--out', out, '--val', '4', '--epochs', '1',
    '--batch', '4', '--mode', 'standard', '--threads', '1', '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  const m = loadModel(path.join(out, 'model.safetensors'));
  try {
    assert.equal(m.arch, 'torchvision-resnet');
    assert.deepEqual({ depth: m.config.depth, width: m.config.width, inputChannels: m.config.inputChannels }, { depth: 18, width: 4, inputChannels: 1 });
    assert.deepEqual(m.input, { channels: 1, size: [32, 32] });
  } finally {
    m.model.dispose();
  }
  const bad = advexp(['train', '--arch', 'vgg16', '--data', data, '--out', path.join(root, 'bad'), '--threads', '1']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /arch: expected one of preact-resnet, torchvision-resnet, resnet18, .*wrn-28-10.*, got 'vgg16'/);
});
