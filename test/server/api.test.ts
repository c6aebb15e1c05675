// The explorer's API in process (Fastify's inject: real routing, parsing and error handling, no sockets): what a
// page needs, and every bad input a client can send answered with a clear 4xx while the server stays up.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import fs from 'node:fs';
import { loadModel } from '../../src/io/model-file.js';
import { setNumThreads } from '../../src/engine/index.js';
import { createServer, type AdvexpServer } from '../../src/server/index.js';
import type { ExplainResponse, ModelsResponse, PredictResponse, ResultsResponse, MethodsResponse, RecordsResponse } from '../../src/server/index.js';
import { methodInfo } from '../../src/server/explainers.js';
import { tmpDir, tinyModel, cifarFile, pngImage, jpegImage, pngClaiming, resultsDir, multipart } from './fixtures.js';

setNumThreads(1);
const tmp = tmpDir('advexp-serve-api-');
const modelA = tinyModel(path.join(tmp, 'tiny-a.safetensors'), 1);
const modelB = tinyModel(path.join(tmp, 'tiny-b.safetensors'), 2);
const data = cifarFile(path.join(tmp, 'batch.bin'), 12);
const results = resultsDir(path.join(tmp, 'results'));
const MB = 1024 * 1024;

let srv: AdvexpServer;
let bare: AdvexpServer; // no data, no results, queue of 0, small upload cap

before(async () => {
  srv = await createServer({
    models: [{ model: loadModel(modelA), default: true }, { model: loadModel(modelB) }], data, results: [results], webRoot: null,
  });
  bare = await createServer({ models: [{ model: loadModel(modelA) }], webRoot: null, maxQueue: 0, maxUploadBytes: 200 * 1024 });
});
after(async () => {
  await srv.close();
  await bare.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

type Reply = { statusCode: number; json: () => unknown; headers: Record<string, unknown>; body: string; rawPayload: Buffer };

async function post(url: string, fields: Record<string, string | string[]>, image?: Buffer, s: AdvexpServer = srv, extra: Record<string, string> = {}): Promise<Reply> {
  const { payload, headers } = multipart(fields, image ? [{ field: 'image', filename: 'x.png', data: image }] : []);
  return s.app.inject({ method: 'POST', url, payload, headers: { ...headers, ...extra } }) as unknown as Promise<Reply>;
}

function assertError(r: Reply, status: number, re: RegExp, what: string): void {
  assert.equal(r.statusCode, status, `${what}: status ${r.statusCode}, body ${r.body.slice(0, 300)}`);
  const j = r.json() as { error: string; statusCode: number };
  assert.equal(j.statusCode, status, what);
  assert.equal(typeof j.error, 'string', what);
  assert.ok(!j.error.includes('\n'), `${what}: one-line message`);
  assert.match(j.error, re, what);
}

test('GET /api/models lists both models with ids, class names and the default', async () => {
  const r = await srv.app.inject({ url: '/api/models' });
  assert.equal(r.statusCode, 200);
  const j = r.json() as ModelsResponse;
  assert.deepEqual(j.models.map((m) => m.id), ['tiny-a', 'tiny-b']);
  assert.equal(j.default, 'tiny-a');
  assert.equal(j.models[0]!.classNames[3], 'cat');
  assert.deepEqual(j.models[0]!.input, [3, 32, 32]);
  assert.ok(!JSON.stringify(j).includes(tmp), 'no server paths are sent to clients');
  assert.equal(r.headers['cache-control'], 'no-store');
  assert.equal(r.headers['x-content-type-options'], 'nosniff');
});

test('GET /api/methods: AE available with the paper defaults; limits advertised', async () => {
  const j = (await srv.app.inject({ url: '/api/methods' })).json() as MethodsResponse;
  assert.equal(j.methods.find((m) => m.name === 'ae')?.available, true);
  assert.deepEqual({ rho: j.defaults.rho, steps: j.defaults.steps, overshoot: j.defaults.overshoot }, { rho: 0.1, steps: 35, overshoot: 5 });
  assert.equal(j.limits.maxUploadBytes, 5 * MB);
});

test('POST /api/predict with a PNG: probabilities sum to 1, argmax reported, input shown at 32×32', async () => {
  const r = await post('/api/predict', { model: 'tiny-b' }, pngImage(32, 32));
  assert.equal(r.statusCode, 200, r.body);
  const j = r.json() as PredictResponse;
  assert.equal(j.model, 'tiny-b');
  assert.equal(j.probabilities.length, 10);
  const sum = j.probabilities.reduce((s, c) => s + c.p, 0);
  assert.ok(Math.abs(sum - 1) < 1e-4, `sum ${sum}`);
  const best = j.probabilities.reduce((a, c) => (c.p > a.p ? c : a));
  assert.equal(j.predicted, best.class);
  assert.equal(j.probabilities[5]!.name, 'dog');
  assert.match(j.input.image, /^data:image\/png;base64,/);
  assert.equal(j.input.source, 'upload');
  assert.match(j.input.note, /32×32 PNG/);
});

test('POST /api/predict: a JPEG and a non-square PNG are accepted (centre square, resized)', async () => {
  const a = await post('/api/predict', {}, jpegImage(64, 48));
  assert.equal(a.statusCode, 200, a.body);
  assert.match((a.json() as PredictResponse).input.note, /64×48 JPEG cropped to 48×48, resized to 32×32/);
  const b = await post('/api/predict', {}, pngImage(20, 90));
  assert.equal(b.statusCode, 200, b.body);
  assert.match((b.json() as PredictResponse).input.note, /20×90 PNG cropped to 20×20, resized to 32×32/);
  assert.equal((a.json() as PredictResponse).model, 'tiny-a', 'no model field: the default');
});

test('POST /api/predict: GIF, WebP, AVIF and TIFF uploads decode (sharp), an EXIF-rotated JPEG upright', async () => {
  const sharp = (await import('sharp')).default;
  const raw = Buffer.alloc(40 * 30 * 3, 90);
  const base = (): ReturnType<typeof sharp> => sharp(raw, { raw: { width: 40, height: 30, channels: 3 } });
  const gif = Buffer.from('GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;', 'latin1');
  for (const [what, bytes, note] of [
    ['gif', gif, /1×1 GIF resized to 32×32/], ['webp', await base().webp().toBuffer(), /40×30 WEBP cropped to 30×30/],
    ['avif', await base().avif().toBuffer(), /40×30 AVIF cropped/], ['tiff', await base().tiff().toBuffer(), /40×30 TIFF cropped/],
    // EXIF orientation 6 (rotate 90° clockwise to view): the 40×30 picture is seen as 30×40.
    ['rotated jpeg', await base().jpeg().withMetadata({ orientation: 6 }).toBuffer(), /30×40 JPEG cropped to 30×30/],
  ] as const) {
    const r = await post('/api/predict', {}, bytes);
    assert.equal(r.statusCode, 200, `${what}: ${r.body}`);
    assert.match((r.json() as PredictResponse).input.note, note, what);
  }
});

test('POST /api/predict with a CIFAR record (multipart or JSON) reports its label', async () => {
  const m = await post('/api/predict', { record: '7' });
  assert.equal(m.statusCode, 200, m.body);
  const j = m.json() as PredictResponse;
  assert.equal(j.input.source, 'record');
  assert.equal(j.input.record, 7);
  assert.equal(j.input.label, 7);
  const k = await srv.app.inject({ method: 'POST', url: '/api/predict', payload: { record: 7, model: 'tiny-a' } });
  assert.equal(k.statusCode, 200, k.body);
  assert.deepEqual((k.json() as PredictResponse).probabilities, j.probabilities);
});

test('POST /api/explain: one AE per class at RMS ρ; a larger ρ gives other images', async () => {
  const img = pngImage(32, 32, 1);
  const r1 = await post('/api/explain', { methods: 'ae', rho: '0.1' }, img);
  assert.equal(r1.statusCode, 200, r1.body);
  const j1 = r1.json() as ExplainResponse;
  assert.deepEqual(j1.methods, ['ae']);
  assert.equal(j1.params.steps, 35);
  assert.equal(j1.params.overshoot, 5);
  assert.equal(j1.ae!.targets.length, 10);
  for (const t of j1.ae!.targets) {
    assert.match(t.image, /^data:image\/png;base64,/);
    assert.match(t.delta, /^data:image\/png;base64,/);
    assert.ok(Math.abs(t.rms - 0.1) < 0.01, `${t.name}: rms ${t.rms}`);
    assert.ok(t.pBefore >= 0 && t.pBefore <= 1 && t.pAfter >= 0 && t.pAfter <= 1);
    assert.ok(Math.abs(t.pBefore - j1.probabilities[t.target]!.p) < 1e-5, `${t.name}: p_before ${t.pBefore} vs ${j1.probabilities[t.target]!.p}`);
  }
  // Encourage mode: every target's probability goes up.
  assert.ok(j1.ae!.targets.every((t) => t.pAfter > t.pBefore), JSON.stringify(j1.ae!.targets.map((t) => [t.pBefore, t.pAfter])));
  const r3 = await post('/api/explain', { methods: 'ae', rho: '0.3' }, img);
  const j3 = r3.json() as ExplainResponse;
  assert.ok(j3.ae!.targets.every((t) => Math.abs(t.rms - 0.3) < 0.03));
  assert.ok(j3.ae!.targets.some((t, i) => t.image !== j1.ae!.targets[i]!.image), 'ρ changes the images');
});

test('POST /api/explain: targets by index or name, JSON body with a record', async () => {
  const r = await post('/api/explain', { methods: 'ae', targets: '2, cat,2', steps: '5' }, pngImage(16, 16));
  assert.equal(r.statusCode, 200, r.body);
  assert.deepEqual((r.json() as ExplainResponse).ae!.targets.map((t) => t.name), ['bird', 'cat']);
  const k = await srv.app.inject({ method: 'POST', url: '/api/explain', payload: { record: 3, methods: ['ae'], rho: 0.05, steps: 4, model: 'tiny-b' } });
  assert.equal(k.statusCode, 200, k.body);
  const j = k.json() as ExplainResponse;
  assert.equal(j.model, 'tiny-b');
  assert.equal(j.params.rho, 0.05);
  assert.equal(j.input.label, 3);
});

test('map methods: computed when available, a clear 400 when not', async () => {
  for (const m of methodInfo().filter((x) => x.name !== 'ae')) {
    const r = await post('/api/explain', { methods: m.name, limeSamples: '50' }, pngImage(32, 32));
    if (m.available) {
      assert.equal(r.statusCode, 200, `${m.name}: ${r.body.slice(0, 300)}`);
      const j = r.json() as ExplainResponse;
      const map = (j as unknown as Record<string, { image: string; target: number }>)[m.name]!;
      assert.match(map.image, /^data:image\/png;base64,/);
      assert.equal(map.target, j.predicted);
    } else {
      assertError(r, 400, new RegExp(`'${m.name}' is not available`), m.name);
    }
  }
});

test('uploads: non-images, broken and oversized pictures are 400 with a message', async () => {
  const png = pngImage(32, 32);
  const cases: [string, Buffer, RegExp][] = [
    ['text', Buffer.from('hello, I am not a picture\n'), /not a PNG, JPEG, WebP, AVIF, TIFF or GIF image/],
    ['svg', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'), /SVG files are not read \(images are read as PNG, JPEG, WebP, AVIF, TIFF or GIF\)/],
    ['html pretending', Buffer.from('<html><script>alert(1)</script></html>'), /not a PNG, JPEG, WebP, AVIF, TIFF or GIF image/],
    ['empty', Buffer.alloc(0), /empty/],
    ['png signature only', png.subarray(0, 8), /not a valid PNG/],
    ['truncated png', png.subarray(0, 60), /(not a valid|cannot decode) PNG image/],
    ['corrupt png body', Buffer.concat([png.subarray(0, 40), Buffer.alloc(200, 7)]), /(not a valid|cannot decode) PNG image/],
    ['huge claimed png', pngClaiming(100000, 100000), /100000×100000 pixels; at most/],
    ['zero-size png', pngClaiming(0, 10), /not a valid PNG image/],
    ['jpeg header only', Buffer.from([0xff, 0xd8, 0xff, 0xd9]), /not a valid JPEG/],
    ['truncated jpeg', jpegImage(40, 40).subarray(0, 300), /JPEG/],
  ];
  for (const [what, bytes, re] of cases) {
    for (const url of ['/api/predict', '/api/explain']) assertError(await post(url, {}, bytes), 400, re, `${what} → ${url}`);
  }
});

test('uploads over the cap are 413, whether or not the client declares the size', async () => {
  const big = Buffer.alloc(5 * MB + 10, 1);
  big.set(pngImage(8, 8).subarray(0, 40));
  // Declared: refused from the content-length before reading.
  assertError(await post('/api/predict', {}, Buffer.concat([big, Buffer.alloc(100 * 1024)])), 413, /larger than the 5 MB limit/, 'declared');
  // Just over the cap (within the form's slack): stopped by the upload limit while streaming.
  assertError(await post('/api/predict', {}, big), 413, /larger than the 5 MB limit/, 'streamed');
  // Chunked, no content-length: the stream limit still holds.
  const { payload, headers } = multipart({}, [{ field: 'image', filename: 'big.png', data: big }]);
  const { Readable } = await import('node:stream');
  const r = await srv.app.inject({ method: 'POST', url: '/api/predict', payload: Readable.from([payload]), headers: { ...headers, 'transfer-encoding': 'chunked' } });
  assertError(r as unknown as Reply, 413, /larger than the 5 MB limit/, 'chunked');
  // A smaller cap on another server.
  assertError(await post('/api/predict', {}, Buffer.concat([pngImage(8, 8), Buffer.alloc(300 * 1024)]), bare), 413, /0\.2 MB limit/, 'small cap');
});

test('form problems: missing, doubled, unknown or misplaced fields are 400', async () => {
  const png = pngImage(8, 8);
  const mp = (fields: Record<string, string | string[]>, files: { field: string; data: Buffer }[]): Promise<Reply> => {
    const { payload, headers } = multipart(fields, files.map((f) => ({ ...f, filename: 'f.png' })));
    return srv.app.inject({ method: 'POST', url: '/api/explain', payload, headers }) as unknown as Promise<Reply>;
  };
  const cases: [string, Promise<Reply>, RegExp][] = [
    ['nothing', mp({}, []), /nothing to classify/],
    ['image and record', mp({ record: '1' }, [{ field: 'image', data: png }]), /either an image .* or a CIFAR record/],
    ['file in another field', mp({}, [{ field: 'picture', data: png }]), /unexpected file field 'picture'/],
    ['two files', mp({}, [{ field: 'image', data: png }, { field: 'image', data: png }]), /only one file/],
    ['image as text', mp({ image: 'abc' }, []), /'image' must be a file upload/],
    ['unknown field', mp({ path: '/etc/passwd', record: '1' }, []), /unknown field 'path'/],
    ['repeated field', mp({ rho: ['0.1', '0.2'], record: '1' }, []), /'rho' is given more than once/],
    ['unknown model', mp({ model: '../../etc/passwd', record: '1' }, []), /unknown model '\.\.\/\.\.\/etc\/passwd' \(loaded: tiny-a, tiny-b\)/],
    ['record negative', mp({ record: '-1' }, []), /'record': expected an integer from 0 to 11/],
    ['record too big', mp({ record: '12' }, []), /'record': expected an integer from 0 to 11/],
    ['record float', mp({ record: '1.5' }, []), /'record'/],
    ['record exp', mp({ record: '1e1' }, []), /'record'/],
    ['record empty', mp({ record: '' }, []), /'record'/],
    ['rho zero', mp({ record: '1', rho: '0' }, []), /'rho': expected a number from 0\.001 to 1/],
    ['rho negative', mp({ record: '1', rho: '-0.1' }, []), /'rho'/],
    ['rho text', mp({ record: '1', rho: 'lots' }, []), /'rho'/],
    ['rho NaN', mp({ record: '1', rho: 'NaN' }, []), /'rho'/],
    ['rho Infinity', mp({ record: '1', rho: 'Infinity' }, []), /'rho'/],
    ['rho too big', mp({ record: '1', rho: '2' }, []), /'rho'/],
    ['steps zero', mp({ record: '1', steps: '0' }, []), /'steps': expected an integer from 1 to 200/],
    ['steps huge', mp({ record: '1', steps: '100000' }, []), /'steps'/],
    ['steps float', mp({ record: '1', steps: '3.5' }, []), /'steps'/],
    ['overshoot', mp({ record: '1', overshoot: '0' }, []), /'overshoot'/],
    ['limeSamples', mp({ record: '1', limeSamples: '1000000' }, []), /'limeSamples'/],
    ['seed', mp({ record: '1', seed: '-3' }, []), /'seed'/],
    ['methods unknown', mp({ record: '1', methods: 'ae,magic' }, []), /unknown method 'magic'/],
    ['methods empty', mp({ record: '1', methods: ' , ' }, []), /'methods': empty list/],
    ['targets unknown', mp({ record: '1', targets: 'unicorn' }, []), /'targets': 'unicorn' is not a class/],
    ['targets out of range', mp({ record: '1', targets: '10' }, []), /'targets': '10'/],
    ['long field', mp({ record: '1', targets: 'x'.repeat(5000) }, []), /longer than 1024 bytes/],
  ];
  for (const [what, p, re] of cases) {
    const r = await p;
    assertError(r, r.statusCode === 413 ? 413 : 400, re, what);
  }
});

test('JSON bodies and content types: malformed bodies are 400, other types 415', async () => {
  const inj = (payload: string, type: string): Promise<Reply> =>
    srv.app.inject({ method: 'POST', url: '/api/predict', payload, headers: { 'content-type': type } }) as unknown as Promise<Reply>;
  assertError(await inj('{"record": 1', 'application/json'), 400, /JSON/, 'invalid JSON');
  assertError(await inj('[1, 2]', 'application/json'), 400, /JSON object/, 'array');
  assertError(await inj('{"record": {"$gt": 1}}', 'application/json'), 400, /'record' must be a string, a number/, 'nested');
  assertError(await inj('{"image": "iVBORw0KGgo="}', 'application/json'), 400, /upload images as multipart/, 'image in JSON');
  assertError(await inj('{"__proto__": {"x": 1}, "record": 1}', 'application/json'), 400, /./, 'proto');
  assertError(await inj('record=1', 'text/plain'), 415, /multipart\/form-data .* or application\/json/, 'text/plain');
  assertError(await inj('record=1', 'application/x-www-form-urlencoded'), 415, /multipart/, 'urlencoded');
  assertError(await inj('x'.repeat(70 * 1024), 'application/json'), 413, /JSON body is too large/, 'JSON too long');
  const none = await srv.app.inject({ method: 'POST', url: '/api/predict' });
  assertError(none as unknown as Reply, 400, /nothing to classify/, 'no body');
  assertError(await inj('', 'application/json'), 400, /./, 'empty JSON');
});

test('records: pages of thumbnails; bad pages 400; no data file → clear errors', async () => {
  const r = await srv.app.inject({ url: '/api/data/records?offset=10&limit=5' });
  assert.equal(r.statusCode, 200, r.body);
  const j = r.json() as RecordsResponse;
  assert.equal(j.total, 12);
  assert.deepEqual(j.records.map((x) => x.index), [10, 11]);
  assert.equal(j.records[0]!.className, 'airplane');
  const d = (await srv.app.inject({ url: '/api/data' })).json() as { available: boolean; name: string; records: number };
  assert.deepEqual([d.available, d.name, d.records], [true, 'batch.bin', 12]);
  for (const q of ['offset=12', 'offset=-1', 'limit=0', 'limit=101', 'limit=abc', 'offset=1&offset=2', 'file=/etc/passwd']) {
    assertError(await srv.app.inject({ url: `/api/data/records?${q}` }) as unknown as Reply, 400, /./, q);
  }
  assert.deepEqual((await bare.app.inject({ url: '/api/data' })).json(), { available: false });
  assertError(await bare.app.inject({ url: '/api/data/records' }) as unknown as Reply, 404, /without a CIFAR file/, 'no data');
  assertError(await post('/api/predict', { record: '0' }, undefined, bare), 400, /without a CIFAR file \(--data\)/, 'record without data');
});

test('saved results: eval JSON summarised, plots served by id, nothing else reachable', async () => {
  const j = (await srv.app.inject({ url: '/api/results' })).json() as ResultsResponse;
  const names = j.results.map((r) => r.name).sort();
  assert.deepEqual(names, ['ara.png', 'ara.svg', 'broken.json', 'eval-one.json', 'eval-two.json', 'notes.json']);
  const two = j.results.find((r) => r.name === 'eval-two.json')!;
  assert.deepEqual(two.summary!.models.map((m) => [m.model, m.accuracy, m.ara.attack, m.ara.btr, m.pgd.linf]), [
    ['a.safetensors', 0.81, 0.0123, 0.0234, 0.25], ['b.safetensors', 0.72, 0.0123, 0.0234, 0.25]]);
  assert.equal(two.summary!.settings!.data, 'test_batch.bin', 'only the base name of paths');
  assert.equal(j.results.find((r) => r.name === 'eval-one.json')!.summary!.models[0]!.model, 'c.safetensors');
  assert.equal(j.results.find((r) => r.name === 'notes.json')!.summary, null);
  assert.equal(j.results.find((r) => r.name === 'broken.json')!.summary, null);
  const png = j.results.find((r) => r.name === 'ara.png')!;
  const got = await srv.app.inject({ url: `/api/results/${png.id}` });
  assert.equal(got.statusCode, 200);
  assert.equal(got.headers['content-type'], 'image/png');
  assert.deepEqual(got.rawPayload, fs.readFileSync(path.join(results, 'ara.png')));
  const svg = await srv.app.inject({ url: `/api/results/${j.results.find((r) => r.name === 'ara.svg')!.id}` });
  assert.equal(svg.headers['content-type'], 'image/svg+xml');
  assert.match(String(svg.headers['content-security-policy']), /default-src 'none'/);
  for (const id of ['0000000000000000000a', 'ara.png', '..%2F..%2Fetc%2Fpasswd', '../../etc/passwd', '%00', 'x'.repeat(200)]) {
    const r = await srv.app.inject({ url: `/api/results/${id}` });
    assert.equal(r.statusCode, 404, `${id}: ${r.statusCode}`);
  }
  assert.deepEqual((await bare.app.inject({ url: '/api/results' })).json(), { results: [] });
});

test('no path from the client reaches the file system; unknown routes are 404', async () => {
  for (const url of ['/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2fpackage.json', '/package.json', '/src/server/app.ts', '/index.html', '/api/', '/api/nope', '/api/models/../../package.json']) {
    const r = await srv.app.inject({ url });
    assert.ok(r.statusCode === 404, `${url}: ${r.statusCode}`);
    assert.ok(!r.body.includes('"name": "advexp"'), url);
  }
  const api404 = await srv.app.inject({ method: 'DELETE', url: '/api/models' });
  assertError(api404 as unknown as Reply, 404, /no such API route: DELETE \/api\/models/, 'DELETE');
  // Without a built page, / says how to build it.
  const root = await srv.app.inject({ url: '/' });
  assert.equal(root.statusCode, 503);
  assert.match(root.body, /npm run build/);
});

test('Host and Origin checks on a loopback server (DNS rebinding, cross-site posts)', async () => {
  const evil = await srv.app.inject({ url: '/api/models', headers: { host: 'evil.example:8080' } });
  assertError(evil as unknown as Reply, 403, /host 'evil\.example:8080' is not accepted/, 'host');
  for (const host of ['127.0.0.1:8080', 'localhost:1', '[::1]:8080', 'LOCALHOST']) {
    assert.equal((await srv.app.inject({ url: '/api/models', headers: { host } })).statusCode, 200, host);
  }
  const cross = await post('/api/predict', { record: '1' }, undefined, srv, { host: '127.0.0.1:8080', origin: 'http://evil.example' });
  assertError(cross, 403, /cross-origin/, 'origin');
  const same = await post('/api/predict', { record: '1' }, undefined, srv, { host: '127.0.0.1:8080', origin: 'http://127.0.0.1:8080' });
  assert.equal(same.statusCode, 200, same.body);
  const open = await createServer({ models: [{ model: loadModel(modelA) }], webRoot: null, allowedHosts: null });
  assert.equal((await open.app.inject({ url: '/api/models', headers: { host: 'my-box.lan:8080' } })).statusCode, 200);
  await open.close();
});

test('the queue: requests wait their turn; a full line answers 503 with Retry-After', async () => {
  // Hold the engine with a job of our own, as a long explanation would.
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  const holder = srv.queue.run(() => gate);
  const waiting = post('/api/predict', { record: '2' });
  for (let i = 0; i < 200 && srv.queue.waiting === 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(srv.queue.waiting, 1, 'the request waits for the engine');
  release();
  await holder;
  assert.equal((await waiting).statusCode, 200);

  // `bare` lets no job wait: while one runs, the next is refused at once.
  let release2!: () => void;
  const gate2 = new Promise<void>((r) => { release2 = r; });
  const holder2 = bare.queue.run(() => gate2);
  const refused = await post('/api/predict', {}, pngImage(32, 32), bare);
  assertError(refused, 503, /busy/, 'queue full');
  assert.equal(refused.headers['retry-after'], '2');
  release2();
  await holder2;
  assert.equal((await post('/api/predict', {}, pngImage(32, 32), bare)).statusCode, 200);
});

test('a client that leaves while its request waits: the job is dropped, never computed', async () => {
  // A real socket this time: the server learns of the departure from the closed connection.
  await srv.app.listen({ host: '127.0.0.1', port: 0 });
  const port = (srv.app.server.address() as { port: number }).port;
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  const holder = srv.queue.run(() => gate);
  const done = srv.queue.completed;
  const ctrl = new AbortController();
  const { payload, headers } = multipart({ methods: 'ae' }, [{ field: 'image', filename: 'a.png', data: pngImage(32, 32) }]);
  const left = fetch(`http://127.0.0.1:${port}/api/explain`, { method: 'POST', body: payload, headers, signal: ctrl.signal });
  for (let i = 0; i < 400 && srv.queue.waiting === 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(srv.queue.waiting, 1, 'the request waits behind the held job');
  ctrl.abort();
  await assert.rejects(left, /abort/i);
  for (let i = 0; i < 400 && srv.queue.waiting === 1; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(srv.queue.waiting, 0, 'dropped from the line');
  release();
  await holder;
  await srv.queue.idle();
  assert.equal(srv.queue.completed, done + 1, 'only the held job ran');
});

test('after all the bad requests the server still answers', async () => {
  const r = await post('/api/predict', { record: '0' });
  assert.equal(r.statusCode, 200);
  assert.equal(srv.queue.running, false);
  assert.equal(srv.queue.waiting, 0);
});
