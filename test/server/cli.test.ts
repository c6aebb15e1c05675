// advexp serve as a user runs it: a real process on a real port. Bad options are one-line errors with exit 2;
// SIGTERM and SIGINT stop it cleanly (exit 0), letting a running job finish first.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { repoRoot } from '../helpers/shared.js';
import { tmpDir, tinyModel, cifarFile, pngImage, multipart, startServe } from './fixtures.js';

const cli = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
const tmp = tmpDir('advexp-serve-cli-');
const model = tinyModel(path.join(tmp, 'tiny.safetensors'), 3);
const data = cifarFile(path.join(tmp, 'batch.bin'), 5);
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function serveRun(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [cli, 'serve', '--threads', '1', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  proc.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  proc.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const timer = setTimeout(() => proc.kill('SIGKILL'), 60_000);
  return new Promise((resolve) => proc.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); }));
}

test('serve: bad options are one-line errors, exit 2', async () => {
  const junk = path.join(tmp, 'junk.bin');
  fs.writeFileSync(junk, Buffer.alloc(100, 1));
  const cases: [string[], RegExp][] = [
    [['--model', model, '--port', 'abc'], /--port: expected an integer/],
    [['--model', model, '--port', '70000'], /--port: expected 0\.\.65535/],
    [['--model', path.join(tmp, 'missing.safetensors')], /missing\.safetensors: no such file/],
    [['--model', junk], /junk\.bin/],
    [['--model', model, '--data', path.join(tmp, 'nope.bin')], /nope\.bin.*ENOENT/],
    [['--model', model, '--data', junk], /junk\.bin: size 100 is not a multiple of the 3073-byte/],
    [['--model', model, '--results', path.join(tmp, 'no-such-dir')], /--results .*no-such-dir: no such directory/],
    [['--model', model, '--max-upload', '0'], /--max-upload/],
    [['--model', model, '--queue', '-1'], /--queue/],
    [['--model', model, '--threads', '0'], /--threads/],
    [['--model', model, '--host', ''], /--host/],
    [['--no-default'], /no models to serve/],
    [['--model', model, '--bogus'], /bogus/],
  ];
  // A few at a time: each process loads libtorch.
  const runs: Awaited<ReturnType<typeof serveRun>>[] = [];
  for (let i = 0; i < cases.length; i += 4) runs.push(...await Promise.all(cases.slice(i, i + 4).map(([args]) => serveRun(...args))));
  for (const [k, [args, re]] of cases.entries()) {
    const r = runs[k]!;
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}, stderr ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(lines[0]!, re, args.join(' '));
  }
  const help = await serveRun('--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout, /usage: advexp serve/);
});

test('serve: a port in use is a one-line error', async () => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = (blocker.address() as net.AddressInfo).port;
  const r = await serveRun('--model', model, '--port', String(port));
  blocker.close();
  assert.equal(r.code, 2, r.stderr);
  // Line-anchored: without a built page, serve's note about it comes first.
  assert.match(r.stderr.trim(), new RegExp(`^advexp: port ${port} on 127\\.0\\.0\\.1 is already in use`, 'm'));
});

test('serve: answers on 127.0.0.1, serves the page or says how to build it, stops on SIGTERM with exit 0', async () => {
  const s = await startServe(['--model', model, '--no-default', '--data', data]);
  assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const models = await (await fetch(`${s.url}/api/models`)).json() as { models: { id: string }[] };
  assert.deepEqual(models.models.map((m) => m.id), ['tiny']);
  const page = await fetch(`${s.url}/`);
  if (fs.existsSync(path.join(repoRoot(), 'dist', 'web', 'index.html'))) {
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.match(await page.text(), /advexp explorer/);
  } else {
    assert.equal(page.status, 503);
    assert.match(await page.text(), /npm run build/);
  }
  s.proc.kill('SIGTERM');
  assert.equal(await s.exited, 0, s.out() + s.err());
  assert.match(s.out(), /SIGTERM, shutting down[\s\S]*stopped/);
});

test('serve: SIGINT while an explanation runs lets it finish, then exits 0', async () => {
  const s = await startServe(['--model', model, '--no-default']);
  const { payload, headers } = multipart({ methods: 'ae', steps: '200' }, [{ field: 'image', filename: 'a.png', data: pngImage(32, 32) }]);
  const pending = fetch(`${s.url}/api/explain`, { method: 'POST', body: payload, headers });
  // Wait until the job holds the engine (the status route answers between the job's phases).
  for (let i = 0; i < 400; i++) {
    const st = await (await fetch(`${s.url}/api/status`)).json() as { queue: { running: boolean } };
    if (st.queue.running) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  s.proc.kill('SIGINT');
  const res = await pending;
  assert.equal(res.status, 200, await res.clone().text());
  const j = await res.json() as { ae: { targets: unknown[] } };
  assert.equal(j.ae.targets.length, 10);
  assert.equal(await s.exited, 0, s.out() + s.err());
  assert.match(s.out(), /SIGINT, shutting down[\s\S]*stopped/);
});

test('serve: a non-loopback address is announced loudly and takes any Host header', async () => {
  const s = await startServe(['--model', model, '--no-default', '--host', '0.0.0.0', '--quiet']);
  try {
    for (let i = 0; i < 200 && !/not loopback/.test(s.err()); i++) await new Promise((r) => setTimeout(r, 10));
    assert.match(s.err(), /not loopback: anyone who can reach this machine can use the models/);
    const port = new URL(s.url).port;
    const r = await fetch(`http://127.0.0.1:${port}/api/models`, { headers: { host: `my-box.lan:${port}` } });
    assert.equal(r.status, 200);
  } finally {
    s.proc.kill('SIGTERM');
    assert.equal(await s.exited, 0);
  }
});
