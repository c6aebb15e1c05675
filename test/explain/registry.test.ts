// Explainers are plug-ins: one defined here, in the test, registers itself and is then offered by the library's
// explain(), the CLI (flags, help, panel, JSON) and the server (method list, /api/explain) without editing them.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import { tensor, tidy, setNumThreads, type Tensor } from '../../src/engine/index.js';
import type { Module } from '../../src/nn/index.js';
import { loadModel } from '../../src/io/model-file.js';
import {
  explain, makeExplainer, explainerNames, registerExplainer, probabilities,
  type Explainer, type MethodExplanation,
} from '../../src/explain/index.js';
import { run as runExplain, readArgs as readExplainArgs } from '../../src/cli/explain.js';
import { readArgs as readEvalArgs } from '../../src/cli/explain-eval.js';
import { createServer, type ExplainResponse, type MethodsResponse } from '../../src/server/index.js';
import { methodInfo } from '../../src/server/explainers.js';
import { tmpDir, tinyModel, pngImage, multipart } from '../server/fixtures.js';

setNumThreads(1);

/** A centre prior: importance falls off linearly with the distance from the image centre, zero beyond `radius`. */
interface CentreOptions { radius?: number }
interface CentreDetails { radius: number }

declare module '../../src/explain/types.js' {
  interface ExplainerTypes { centre: { options: CentreOptions; details: CentreDetails } }
}

class CentrePrior implements Explainer<'centre', CentreDetails> {
  readonly name = 'centre' as const;
  readonly radius: number;
  constructor(opts: CentreOptions) { this.radius = opts.radius ?? 0.5; }
  attribute(model: Module, images: Tensor, targets: Int32Array): MethodExplanation<'centre', CentreDetails> {
    const [n, c, h, w] = images.shape as [number, number, number, number];
    const p = tidy(() => probabilities(model, images).data());
    const k = p.length / n;
    const maps = new Float32Array(n * h * w);
    const r = this.radius * Math.min(h, w);
    for (let i = 0; i < n; i++) {
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) maps[(i * h + y) * w + x] = Math.max(0, 1 - Math.hypot(y - (h - 1) / 2, x - (w - 1) / 2) / r);
    }
    return {
      method: 'centre', n, channels: c, height: h, width: w, targets: Int32Array.from(targets), maps,
      pBefore: Float32Array.from(targets, (t, i) => p[i * k + t]!), details: { radius: this.radius },
    };
  }
}

registerExplainer<'centre', CentreOptions, CentreDetails>({
  name: 'centre', label: 'Centre prior', short: 'centre', signed: false, overlay: true,
  options: [{ name: 'radius', flag: 'centre-radius', metavar: 'R', kind: 'number', default: 0.5, above: 0, help: 'centre prior: radius, a fraction of the side' }],
  create: (o) => new CentrePrior(o),
  summary: (r) => `radius ${r.details.radius}`,
  record: (r) => ({ radius: r.details.radius }),
});

const tmp = tmpDir('advexp-registry-');
const modelFile = tinyModel(path.join(tmp, 'tiny.safetensors'), 3);
const photo = path.join(tmp, 'photo.png');
fs.writeFileSync(photo, pngImage(32, 32));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('the registry: the plug-in comes after the built-ins, explain() types its options and result, clashes are refused', () => {
  assert.deepEqual(explainerNames(), ['ae', 'gradcam', 'lime', 'saliency', 'smoothgrad', 'ig', 'centre']);
  const { model } = loadModel(modelFile);
  try {
    const x = tensor(new Float32Array(2 * 3 * 32 * 32).fill(0.5), [2, 3, 32, 32]);
    const r = explain(model, x, Int32Array.from([1, 4]), { method: 'centre', radius: 0.25 });
    x.dispose();
    assert.equal(r.method, 'centre');
    assert.equal(r.details.radius, 0.25, 'details typed by the method');
    assert.equal(r.maps.length, 2 * 32 * 32);
    assert.ok(r.maps[16 * 32 + 16]! > 0.9 && r.maps[0] === 0, 'bright centre, dark corner');
  } finally {
    model.dispose();
  }
  const plain = { label: 'x', short: 'x', signed: false, overlay: false, create: (o: CentreOptions) => new CentrePrior(o) };
  assert.throws(() => registerExplainer({ ...plain, name: 'centre', options: [] }), /'centre' is registered twice/);
  const rho = { name: 'radius', flag: 'rho', metavar: 'R', kind: 'number', default: 1, help: '' } as const;
  assert.throws(() => registerExplainer({ ...plain, name: 'other', options: [rho] }), /--rho is already ae's/);
  assert.ok(!explainerNames().includes('other'), 'a refused method is not half-registered');
  assert.throws(() => makeExplainer({ method: 'nope' }), /unknown explanation method 'nope' \(registered: ae, .*centre\)/);
});

test('the CLI offers the plug-in: --methods, its flag with default and check, help, panel and JSON', async () => {
  const help: string[] = [];
  const log = console.log;
  console.log = (s: string) => { help.push(s); };
  try {
    assert.equal(readExplainArgs(['--help']), null);
  } finally {
    console.log = log;
  }
  assert.match(help.join('\n'), /--methods LIST +ae,gradcam,lime,saliency,smoothgrad,ig,centre /);
  assert.match(help.join('\n'), /--centre-radius R +centre prior: radius, a fraction of the side \(default 0\.5\)/);
  assert.deepEqual(readExplainArgs([photo, '--methods', 'centre', '--out', tmp])!.options.get('centre'), { method: 'centre', radius: 0.5 });
  assert.throws(() => readExplainArgs([photo, '--methods', 'centre', '--centre-radius=-1', '--out', tmp]), /--centre-radius: must be > 0, got '-1'/);
  assert.deepEqual(readEvalArgs(['--data', 'x.bin', '--methods', 'centre,random', '--centre-radius', '0.2'])!.options.get('centre'), { method: 'centre', radius: 0.2 });

  const out = path.join(tmp, 'cli');
  await runExplain([photo, '--model', modelFile, '--methods', 'centre,saliency', '--centre-radius', '0.3', '--out', out, '--quiet', '--threads', '1']);
  const j = JSON.parse(fs.readFileSync(path.join(out, 'explain.json'), 'utf8'));
  assert.deepEqual(j.settings, { centre: { radius: 0.3 }, saliency: {} });
  const entry = j.results[0].maps.centre[0];
  assert.equal(entry.radius, 0.3, "the method's own numbers, from its record()");
  assert.equal(entry.map.length, 1024);
  const png = PNG.sync.read(fs.readFileSync(path.join(out, 'explain.png')));
  assert.ok(png.width >= 3 * 128, `panel ${png.width} wide: image, centre map, saliency map`);
});

test('the server offers the plug-in: /api/methods lists it with its label, /api/explain computes it', async () => {
  assert.deepEqual(methodInfo().find((m) => m.name === 'centre'), { name: 'centre', label: 'Centre prior', available: true });
  const srv = await createServer({ models: [{ model: loadModel(modelFile), default: true }], webRoot: null });
  try {
    const m = (await srv.app.inject({ url: '/api/methods' })).json() as MethodsResponse;
    assert.deepEqual(m.methods.map((x) => x.name), ['ae', 'gradcam', 'lime', 'saliency', 'smoothgrad', 'ig', 'centre']);
    const { payload, headers } = multipart({ methods: 'centre' }, [{ field: 'image', filename: 'x.png', data: pngImage(32, 32) }]);
    const r = await srv.app.inject({ method: 'POST', url: '/api/explain', payload, headers });
    assert.equal(r.statusCode, 200, r.body.slice(0, 300));
    const j = r.json() as ExplainResponse & { centre?: { target: number; image: string; detail?: string } };
    assert.deepEqual(j.methods, ['centre']);
    assert.equal(j.centre?.target, j.predicted);
    assert.equal(j.centre?.detail, 'radius 0.5');
    assert.match(j.centre?.image ?? '', /^data:image\/png;base64,/);
  } finally {
    await srv.close();
  }
});
