// Findings 6–8 of the fault-injection sweep (issue 18), each reproduced as it was found and kept fixed:
//  6. a cross-site form post with `Origin: null` (sandboxed iframe, file:// page) was accepted: now 403;
//  7. malformed multipart bodies ('Unexpected end of multipart data', 'Boundary not found') answered 500: now 400;
//  8. `serve --data` checked only record 0, then 500'd on a bad label later in the file: the whole set is read and
//     checked at start, so a bad record stops createServer and `advexp serve` (exit 2) naming the file and record.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { loadModel } from '../../src/io/model-file.js';
import { setNumThreads } from '../../src/engine/index.js';
import { CIFAR_RECORD_BYTES } from '../../src/data/cifar.js';
import { createServer, type AdvexpServer } from '../../src/server/index.js';
import { repoRoot } from '../helpers/shared.js';
import { tmpDir, tinyModel, cifarFile, pngImage, multipart } from './fixtures.js';

setNumThreads(1);
const tmp = tmpDir('advexp-serve-hardening-');
const model = tinyModel(path.join(tmp, 'tiny.safetensors'), 4);
const data = cifarFile(path.join(tmp, 'batch.bin'), 8);
let srv: AdvexpServer;

before(async () => {
  srv = await createServer({ models: [{ model: loadModel(model) }], data, webRoot: null });
});
after(async () => {
  await srv.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

interface Reply { statusCode: number; body: string; json: () => unknown }

function assertError(r: Reply, status: number, re: RegExp, what: string): void {
  assert.equal(r.statusCode, status, `${what}: status ${r.statusCode}, body ${r.body.slice(0, 300)}`);
  const j = r.json() as { error: string; statusCode: number };
  assert.equal(j.statusCode, status, what);
  assert.ok(!j.error.includes('\n'), `${what}: one-line message`);
  assert.doesNotMatch(j.error, /internal error/, what);
  assert.match(j.error, re, what);
}

async function send(payload: Buffer | string, contentType: string, headers: Record<string, string> = {}, url = '/api/predict'): Promise<Reply> {
  return srv.app.inject({ method: 'POST', url, payload, headers: { 'content-type': contentType, ...headers } }) as unknown as Promise<Reply>;
}

test('finding 6: Origin null is foreign (form posts from sandboxed frames and file:// pages are refused)', async () => {
  const host = { host: '127.0.0.1:8080' };
  const form = multipart({ record: '1' });
  // The attack as found: a multipart form post (what an HTML form sends) and a JSON one, both with Origin null.
  assertError(await send(form.payload, form.headers['content-type']!, { ...host, origin: 'null' }), 403, /cross-origin.*Origin: null/, 'form, Origin null');
  assertError(await send(JSON.stringify({ record: 1, methods: 'ae' }), 'application/json', { ...host, origin: 'null' }, '/api/explain'), 403, /cross-origin/, 'explain, Origin null');
  // Other malformed or foreign origins too.
  for (const origin of ['NULL', '', 'file://', 'http://127.0.0.1:8081', 'http://127.0.0.1:8080.evil.example', 'garbage']) {
    assertError(await send(form.payload, form.headers['content-type']!, { ...host, origin }), 403, /cross-origin/, `Origin '${origin}'`);
  }
  assert.equal(srv.queue.completed, 0, 'no refused request reached the engine');
  // The page's own requests carry its real origin and pass; clients that send no Origin (curl, scripts) pass.
  const same = await send(form.payload, form.headers['content-type']!, { ...host, origin: 'http://127.0.0.1:8080' });
  assert.equal(same.statusCode, 200, same.body);
  const none = await send(form.payload, form.headers['content-type']!, host);
  assert.equal(none.statusCode, 200, none.body);
  // Reads are not posts: a GET with Origin null still answers (no compute, nothing queued).
  assert.equal((await srv.app.inject({ url: '/api/models', headers: { ...host, origin: 'null' } })).statusCode, 200);
});

test('finding 7: malformed multipart bodies are 400 with a one-line message, never 500', async () => {
  const B = 'advexpBoundary';
  const ct = `multipart/form-data; boundary=${B}`;
  const field = `--${B}\r\ncontent-disposition: form-data; name="record"\r\n\r\n1`;
  const file = `--${B}\r\ncontent-disposition: form-data; name="image"; filename="a.png"\r\ncontent-type: image/png\r\n\r\n`;
  const png = pngImage(32, 32);
  const cases: [string, Buffer | string, string, RegExp][] = [
    ['cut short after a field (Unexpected end of multipart data)', field, ct, /malformed multipart body: it ends before its closing boundary/],
    ['cut short inside a file', Buffer.concat([Buffer.from(file), png.subarray(0, 40)]), ct, /malformed multipart body/],
    ['not multipart at all', 'hello world', ct, /malformed multipart body/],
    ['no boundary in the content-type (Boundary not found)', `${field}\r\n--${B}--\r\n`, 'multipart/form-data', /malformed multipart body: the content-type names no boundary/],
    ['an empty boundary', '--\r\n', 'multipart/form-data; boundary=', /malformed multipart body/],
    ['a boundary over 256 characters', `--${'a'.repeat(300)}--\r\n`, `multipart/form-data; boundary=${'a'.repeat(300)}`, /malformed multipart body: the boundary is empty or longer than 70/],
  ];
  for (const url of ['/api/predict', '/api/explain']) {
    for (const [what, body, type, re] of cases) assertError(await send(body, type, {}, url), 400, re, `${url}: ${what}`);
  }
  // The same bodies over a real socket, as a client that stops sending would.
  await srv.app.listen({ host: '127.0.0.1', port: 0 });
  const port = (srv.app.server.address() as { port: number }).port;
  const res = await fetch(`http://127.0.0.1:${port}/api/predict`, { method: 'POST', body: field, headers: { 'content-type': ct } });
  assert.equal(res.status, 400, await res.clone().text());
  // A well-formed form still works afterwards.
  const ok = multipart({}, [{ field: 'image', filename: 'a.png', data: png }]);
  const r = await send(ok.payload, ok.headers['content-type']!);
  assert.equal(r.statusCode, 200, r.body);
});

test('finding 8: a data file with a bad label at record 5 stops createServer, naming the file and the record', async () => {
  const bad = cifarFile(path.join(tmp, 'label200.bin'), 8);
  const bytes = fs.readFileSync(bad);
  bytes[5 * CIFAR_RECORD_BYTES] = 200;
  fs.writeFileSync(bad, bytes);
  await assert.rejects(createServer({ models: [{ model: loadModel(model) }], data: bad, webRoot: null }),
    (e: Error) => /label200\.bin: record 5 has label byte 200, expected 0\.\.9/.test(e.message) && !e.message.includes('\n'));
});

test('finding 8: advexp serve --data with a bad label at record 5 exits 2, one line naming the file and the record', async () => {
  const bad = cifarFile(path.join(tmp, 'serve-label200.bin'), 8);
  const bytes = fs.readFileSync(bad);
  bytes[5 * CIFAR_RECORD_BYTES] = 200;
  fs.writeFileSync(bad, bytes);
  const cli = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
  const proc = spawn(process.execPath, [cli, 'serve', '--threads', '1', '--port', '0', '--no-default', '--model', model, '--data', bad], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  proc.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  proc.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const timer = setTimeout(() => proc.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((resolve) => proc.on('close', (c) => { clearTimeout(timer); resolve(c); }));
  assert.equal(code, 2, `exit ${code}: ${stdout}${stderr}`);
  assert.doesNotMatch(stdout, /listening/, 'it never starts');
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, stderr);
  assert.match(lines[0]!, /serve-label200\.bin: record 5 has label byte 200, expected 0\.\.9/);
});
