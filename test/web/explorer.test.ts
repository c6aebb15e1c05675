// The explorer page in a real browser: Debian's headless Chromium driven by playwright-core, against `advexp
// serve` started as a user would (two tiny models, a small CIFAR file, a folder of saved results). Chromium is kept
// off the network: every host name but 127.0.0.1 resolves to nothing, background services are off, and any
// request that leaves the page's origin is aborted and fails the test.
//
// Skips (loudly) when /usr/bin/chromium is absent; CI installs it (scripts/setup.sh). Set ADVEXP_CHROMIUM to use
// another binary. ADVEXP_SERVE_SCREENSHOT=FILE also writes a screenshot of the page on the published nets (README).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { repoRoot, sharedDir } from '../helpers/shared.js';
import { CHROMIUM_ARGS } from './chromium.js';
import { tmpDir, tinyModel, cifarFile, pngImage, resultsDir, startServe, type Served } from '../server/fixtures.js';

const CHROMIUM = process.env.ADVEXP_CHROMIUM ?? '/usr/bin/chromium';
const haveChromium = fs.existsSync(CHROMIUM);
const skip = haveChromium ? false : `SKIPPED: ${CHROMIUM} not found (apt-get install chromium) — the browser tests did not run`;
if (!haveChromium) console.warn(`\n*** ${skip} ***\n`);


/** The page's build must be newer than its sources, or the test would check an old page. */
function checkBuilt(): void {
  const root = repoRoot();
  const built = path.join(root, 'dist', 'web', 'index.html');
  if (!fs.existsSync(built)) throw new Error(`${built} is missing: run npm run build (or npm run build:web) first`);
  const sources = [path.join(root, 'web', 'index.html'), path.join(root, 'src', 'server', 'api-types.ts'),
    ...fs.readdirSync(path.join(root, 'web', 'src')).map((f) => path.join(root, 'web', 'src', f))];
  const builtAt = fs.statSync(built).mtimeMs;
  const newer = sources.filter((f) => fs.statSync(f).mtimeMs > builtAt + 1000);
  if (newer.length > 0) throw new Error(`dist/web is older than ${newer.map((f) => path.relative(root, f)).join(', ')}: run npm run build:web`);
}

let tmp = '';
let served: Served | null = null;
let browser: Browser | null = null;
let context: BrowserContext | null = null;
let page: Page;
const outside: string[] = [];
const problems: string[] = [];

async function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
}

/** A page that may talk to `origin` only. */
async function openPage(b: Browser, origin: string): Promise<{ context: BrowserContext; page: Page }> {
  const ctx = await b.newContext({ viewport: { width: 1360, height: 1000 }, serviceWorkers: 'block', acceptDownloads: false });
  await ctx.route('**/*', (route) => {
    const u = route.request().url();
    if (u.startsWith(`${origin}/`)) return route.continue();
    outside.push(u);
    return route.abort('blockedbyclient');
  });
  const p = await ctx.newPage();
  p.setDefaultTimeout(90_000);
  p.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  p.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
  p.on('requestfailed', (r) => {
    const why = r.failure()?.errorText ?? '';
    if (!/ERR_ABORTED|cancel/i.test(why)) problems.push(`request failed: ${r.url().slice(0, 80)} ${why}`);
  });
  return { context: ctx, page: p };
}

/**
 * Polls a page expression until it is truthy. (page.waitForFunction would run the string through the page's
 * eval, which the server's Content-Security-Policy rightly forbids.)
 */
async function waitFor(p: Page, expression: string, timeoutMs = 90_000): Promise<void> {
  const t0 = Date.now();
  while (!(await p.evaluate(expression))) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${expression}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const aeSources = (): Promise<string[]> => page.locator('#ae-grid .ae-card img').evaluateAll((imgs) => imgs.map((i) => (i as unknown as { src: string }).src));
const probTexts = (): Promise<string[]> => page.locator('#probs li .value').allTextContents();

before(async () => {
  if (!haveChromium) return;
  checkBuilt();
  tmp = tmpDir('advexp-web-');
  const a = tinyModel(path.join(tmp, 'tiny-a.safetensors'), 11);
  const b = tinyModel(path.join(tmp, 'tiny-b.safetensors'), 12);
  const data = cifarFile(path.join(tmp, 'batch.bin'), 30);
  const results = resultsDir(path.join(tmp, 'results'));
  served = await startServe(['--no-default', '--model', a, '--model', b, '--data', data, '--results', results]);
  browser = await launch();
  ({ context, page } = await openPage(browser, served.url));
});

after(async () => {
  await context?.close();
  await browser?.close();
  if (served !== null) {
    served.proc.kill('SIGTERM');
    assert.equal(await served.exited, 0, `serve did not stop cleanly: ${served.err()}`);
  }
  if (tmp !== '') fs.rmSync(tmp, { recursive: true, force: true });
});

test('the page loads: models, CIFAR records and saved results', { skip }, async () => {
  await page.goto(served!.url);
  await page.waitForSelector('body[data-ready="true"]');
  assert.equal(await page.title(), 'advexp explorer');
  assert.deepEqual(await page.locator('#model option').evaluateAll((os) => os.map((o) => (o as unknown as { value: string }).value)), ['tiny-a', 'tiny-b']);
  assert.equal(await page.locator('#model').inputValue(), 'tiny-a');
  await page.waitForSelector('#records .record >> nth=23');
  assert.equal(await page.locator('#records .record').count(), 24);
  assert.match(await page.locator('#records-range').textContent() ?? '', /0–23 of 30/);
  // Saved results: eval JSON as table rows (3 models in 2 files), both plots as pictures that load.
  await page.waitForSelector('.results-table tbody tr');
  assert.equal(await page.locator('.results-table tbody tr').count(), 3);
  await waitFor(page, `[...document.querySelectorAll('.plot img')].length === 2 && [...document.querySelectorAll('.plot img')].every((i) => i.complete && i.naturalWidth > 0)`);
});

test('upload a PNG: probabilities, an AE for every class, Grad-CAM and LIME', { skip }, async () => {
  await page.setInputFiles('#file', { name: 'disc.png', mimeType: 'image/png', buffer: pngImage(64, 48) });
  await page.waitForSelector('#probs li >> nth=9');
  assert.match(await page.locator('#input-note').textContent() ?? '', /64×48 PNG cropped to 48×48, resized to 32×32/);
  const pct = (await probTexts()).map((t) => Number.parseFloat(t));
  assert.equal(pct.length, 10);
  assert.ok(Math.abs(pct.reduce((s, v) => s + v, 0) - 100) < 1, `percentages sum to ${pct.reduce((s, v) => s + v, 0)}`);
  assert.equal(await page.locator('#probs li.predicted').count(), 1);
  await page.waitForSelector('#ae-grid[data-state="ready"][data-rho="0.10"]');
  const srcs = await aeSources();
  assert.equal(srcs.length, 10);
  assert.ok(srcs.every((s) => s.startsWith('data:image/png;base64,')));
  assert.equal(new Set(srcs).size, 10, 'ten different explanations');
  const names = await page.locator('#ae-grid .cname').allTextContents();
  assert.deepEqual(names, ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']);
  await waitFor(page, `[...document.querySelectorAll('#ae-grid img')].every((i) => i.complete && i.naturalWidth === 32)`);
  // The map methods, beside.
  await page.waitForSelector('#maps[data-state="ready"]');
  for (const m of ['gradcam', 'lime']) {
    const fig = page.locator(`#maps figure[data-method="${m}"]`);
    if (await fig.locator('img').count() === 1) assert.match(await fig.locator('img').getAttribute('src') ?? '', /^data:image\/png/);
    else assert.match(await fig.textContent() ?? '', /not available/);
  }
  assert.equal(await page.locator('#error').isHidden(), true);
});

test('move the ρ slider: recomputed on the server with a busy indicator, the images change', { skip }, async () => {
  const before = await aeSources();
  await page.evaluate(`(() => {
    window.__busySeen = false;
    const busy = document.getElementById('busy');
    new MutationObserver(() => { if (!busy.hidden) window.__busySeen = true; }).observe(busy, { attributes: true });
  })()`);
  // Twenty key presses: each fires a recompute that cancels the one before; the last one wins.
  await page.focus('#rho');
  for (let i = 0; i < 20; i++) await page.keyboard.press('ArrowRight');
  assert.equal(await page.locator('#rho-value').textContent(), '0.30');
  await page.waitForSelector('#ae-grid[data-state="ready"][data-rho="0.30"]');
  assert.equal(await page.evaluate('window.__busySeen'), true, 'the busy indicator showed');
  await page.waitForSelector('#busy', { state: 'hidden' });
  const afterSrcs = await aeSources();
  assert.equal(afterSrcs.length, 10);
  assert.ok(afterSrcs.every((s, i) => s !== before[i]), 'every class image changed with ρ');
  // δ view swaps the pictures without a request.
  await page.check('#show-delta');
  const deltas = await aeSources();
  assert.ok(deltas.every((s, i) => s !== afterSrcs[i]));
  await page.uncheck('#show-delta');
  assert.deepEqual(await aeSources(), afterSrcs);
  assert.equal(await page.locator('#error').isHidden(), true, await page.locator('#error').textContent() ?? '');
});

test('switch models: probabilities and explanations come from the other net', { skip }, async () => {
  const probsA = await probTexts();
  const aeA = await aeSources();
  await page.selectOption('#model', 'tiny-b');
  await page.waitForSelector('#probs[data-model="tiny-b"]');
  await page.waitForSelector('#ae-grid[data-state="ready"][data-model="tiny-b"][data-rho="0.30"]');
  await page.waitForSelector('#maps[data-state="ready"][data-model="tiny-b"]');
  assert.notDeepEqual(await probTexts(), probsA);
  assert.ok((await aeSources()).some((s, i) => s !== aeA[i]));
  await page.selectOption('#model', 'tiny-a');
  await page.waitForSelector('#ae-grid[data-state="ready"][data-model="tiny-a"]');
  assert.deepEqual(await probTexts(), probsA, 'same image, same model, same probabilities');
});

test('browse CIFAR records, drop a file, and a bad upload shows the server\'s message', { skip }, async () => {
  await page.click('#records-next');
  await page.waitForSelector('.record[data-index="29"]');
  await page.click('.record[data-index="25"]');
  await page.waitForSelector('#ae-grid[data-state="ready"]');
  await waitFor(page, `document.getElementById('input-note').textContent.includes('record 25 of ')`);
  assert.match(await page.locator('#input-note').textContent() ?? '', /label: dog/);
  assert.equal(await page.locator('#probs li.label').count(), 1);
  assert.equal(await page.locator('.record.selected').getAttribute('data-index'), '25');

  const b64 = pngImage(40, 40, 2).toString('base64');
  const dt = await page.evaluateHandle(`(() => {
    const bytes = Uint8Array.from(atob('${b64}'), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], 'dropped.png', { type: 'image/png' }));
    return dt;
  })()`);
  await page.dispatchEvent('#drop', 'drop', { dataTransfer: dt });
  await waitFor(page, `document.getElementById('input-note').textContent.includes('40×40 PNG')`);
  await page.waitForSelector('#ae-grid[data-state="ready"]');

  await page.setInputFiles('#file', { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('this is not a picture') });
  await page.waitForSelector('#error:not([hidden])');
  assert.match(await page.locator('#error').textContent() ?? '', /not a PNG, JPEG, WebP, AVIF, TIFF or GIF image/);
  // The server is still fine.
  await page.setInputFiles('#file', { name: 'ok.png', mimeType: 'image/png', buffer: pngImage(32, 32, 4) });
  await page.waitForSelector('#error', { state: 'hidden' });
  await page.waitForSelector('#ae-grid[data-state="ready"]');
  await page.waitForSelector('#busy', { state: 'hidden' });
});

test('nothing left the page\'s origin and the page logged no errors', { skip }, async () => {
  assert.deepEqual(outside, []);
  // The bad upload is a 400 the page shows; Chromium also logs it as a failed resource load.
  const unexpected = problems.filter((p) => !/status of 400/.test(p));
  assert.deepEqual(unexpected, []);
  // The server answered every request it was not told to drop, none with a 5xx.
  if (process.env.ADVEXP_DEBUG) console.log(served!.out());
  assert.doesNotMatch(served!.out(), / 5\d\d \d+ ms|error on /);
  assert.equal(served!.err(), '');
});

const shotFile = process.env.ADVEXP_SERVE_SCREENSHOT;
test('screenshot of the page on the published nets (ADVEXP_SERVE_SCREENSHOT)', { skip: !haveChromium ? skip : shotFile === undefined ? 'set ADVEXP_SERVE_SCREENSHOT=FILE to write it' : false }, async () => {
  const shared = sharedDir();
  assert.ok(shared !== null, '../shared is needed for the published nets');
  const ref = path.join(shared, 'models', 'reference');
  const args = ['--no-default', '--model', path.join(ref, 'resnet44-robust.safetensors'), '--model', path.join(ref, 'resnet44-standard.safetensors'),
    '--data', path.join(shared, 'data', 'cifar10', 'data_batch_5.bin')];
  if (process.env.ADVEXP_SERVE_RESULTS) args.push('--results', process.env.ADVEXP_SERVE_RESULTS);
  const s = await startServe(args);
  const { context: ctx, page: p } = await openPage(browser!, s.url);
  try {
    await p.goto(s.url);
    await p.waitForSelector('body[data-ready="true"]');
    await p.click(`.record[data-index="${process.env.ADVEXP_SERVE_RECORD ?? '3'}"]`);
    await p.waitForSelector('#ae-grid[data-state="ready"]', { timeout: 600_000 });
    await p.waitForSelector('#maps[data-state="ready"]', { timeout: 600_000 });
    await p.waitForSelector('#busy', { state: 'hidden' });
    await p.screenshot({ path: path.resolve(shotFile!), fullPage: true });
  } finally {
    await ctx.close();
    s.proc.kill('SIGTERM');
    await s.exited;
  }
});
