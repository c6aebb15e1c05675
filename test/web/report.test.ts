// `advexp report` (issue 16): one self-contained HTML file. Run as a user runs it on two tiny nets and a small
// CIFAR file (a split.json holding all of it out), then opened from disk in Debian's headless Chromium with every
// network request refused: the document must need nothing but itself, and every image must decode (naturalWidth > 0).
// The browser part skips (loudly) when /usr/bin/chromium is absent; CI installs it (scripts/setup.sh).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { tmpDir, tinyModel, cifarFile } from '../server/fixtures.js';
import { advexp, assertUserError } from '../helpers/cli.js';
import { escapeHtml, reportHtml, dataUri } from '../../src/report/html.js';
import { CHROMIUM_ARGS } from './chromium.js';
import { repoRoot } from '../helpers/shared.js';

const CHROMIUM = process.env.ADVEXP_CHROMIUM ?? '/usr/bin/chromium';
const haveChromium = fs.existsSync(CHROMIUM);
const skip = haveChromium ? false : `SKIPPED: ${CHROMIUM} not found (apt-get install chromium) — the report's browser test did not run`;
if (!haveChromium) console.warn(`\n*** ${skip} ***\n`);

let tmp = '';
let args: string[] = [];
before(() => {
  tmp = tmpDir('advexp-report-');
  const a = tinyModel(path.join(tmp, 'tiny-a.safetensors'), 21);
  const b = tinyModel(path.join(tmp, 'tiny-b.safetensors'), 22);
  const data = cifarFile(path.join(tmp, 'batch.bin'), 40);
  const split = path.join(tmp, 'split.json');
  fs.writeFileSync(split, JSON.stringify({ n: 40, val: Array.from({ length: 40 }, (_, i) => 39 - i) }));
  args = ['report', '--model', a, '--compare', b, '--data', data, '--split', split, '--acc-n', '30', '--n', '8', '--steps', '20',
    '--panels', '3', '--ae-steps', '3', '--threads', '1', '--quiet'];
});
after(() => { if (tmp !== '') fs.rmSync(tmp, { recursive: true, force: true }); });

test('reportHtml: text is escaped, images are data: URIs, nothing refers outside the file', () => {
  assert.equal(escapeHtml(`<a href="x">&'`), '&lt;a href=&quot;x&quot;&gt;&amp;&#39;');
  assert.equal(dataUri('image/svg+xml', '<svg/>'), `data:image/svg+xml;base64,${Buffer.from('<svg/>').toString('base64')}`);
  const html = reportHtml({ title: 'ε < ρ', meta: ['m'], blocks: [
    { kind: 'table', head: ['a'], rows: [['<b>']] }, { kind: 'image', mime: 'image/png', data: Buffer.from([1, 2]), alt: 'x' },
  ] });
  assert.match(html, /<title>ε &lt; ρ<\/title>/);
  assert.match(html, /<td>&lt;b&gt;<\/td>/);
  assert.match(html, /<img src="data:image\/png;base64,AQI="/);
  assert.doesNotMatch(html, /(src|href)="(?!data:)/);
});

test('advexp report writes DIR/report.html: both models, the quick ARA labelled, the card\'s curves, panels inline', () => {
  const out = path.join(tmp, 'out', 'nested');
  const r = advexp([...args, '--out', out], { timeoutMs: 300_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '', 'quiet: nothing on stderr');
  assert.match(r.stdout, /^wrote .*report\.html \(\d+ s\): open it in a browser\n$/);
  const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
  assert.deepEqual(fs.readdirSync(out), ['report.html'], 'one file, no temp file left');
  assert.match(html, /tiny-a/);
  assert.match(html, /tiny-b/);
  assert.match(html, /quick Attack ARA \(8 images, 20 steps\)/);
  assert.match(html, /full-budget Attack ARA \(card, 500 images, 450 steps\)/);
  assert.equal((html.match(/<img src="data:image\/svg\+xml;base64,/g) ?? []).length, 1, 'the plot');
  assert.equal((html.match(/<img src="data:image\/png;base64,/g) ?? []).length, 1, 'the panel');
  assert.doesNotMatch(html, /(src|href)="(?!data:)/, 'nothing loaded from outside the file');
  // The plot holds the two quick curves and the card's two full-budget ones.
  const svg = Buffer.from(/data:image\/svg\+xml;base64,([^"]+)/.exec(html)![1]!, 'base64').toString('utf8');
  assert.match(svg, /tiny-a \(quick: 8 img, 20 steps\)/);
  // The card's legend names each net as models/card-eval.json labels it.
  const card = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'models', 'card-eval.json'), 'utf8')) as Record<string, { label: string }>;
  for (const k of ['default', 'standard']) assert.ok(svg.includes(`card ${escapeHtml(card[k]!.label)} (500 img, 450 steps)`), `${k}: ${card[k]!.label}`);
});

test('advexp report: bad input is one line, exit 2, before any work', () => {
  assertUserError(advexp([...args, '--out', path.join(tmp, 'batch.bin')]), '--out a file', /--out .*batch\.bin: exists and is not a directory/);
  assertUserError(advexp([...args.filter((a, i) => a !== '--split' && args[i - 1] !== '--split'), '--split', path.join(tmp, 'nope.json'), '--out', path.join(tmp, 'o2')]), 'missing split', /nope\.json/);
  assertUserError(advexp(['report', '--n', '0']), '--n 0', /--n: expected an integer ≥ 1/);
  assert.equal(fs.existsSync(path.join(tmp, 'o2')), false, 'no folder left by a failed run');
});

test('the report opens offline in Chromium and every image renders', { skip }, async () => {
  const out = path.join(tmp, 'browser');
  const r = advexp([...args, '--out', out], { timeoutMs: 300_000 });
  assert.equal(r.code, 0, r.stderr);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
  try {
    const ctx = await browser.newContext({ serviceWorkers: 'block', offline: true });
    const outside: string[] = [];
    await ctx.route('**/*', (route) => {
      const u = route.request().url();
      if (u.startsWith('file:') || u.startsWith('data:')) return route.continue();
      outside.push(u);
      return route.abort('blockedbyclient');
    });
    const page = await ctx.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(pathToFileURL(path.join(out, 'report.html')).href, { waitUntil: 'load' });
    const imgs = await page.locator('img').evaluateAll((els) => els.map((e) => {
      const i = e as unknown as { complete: boolean; naturalWidth: number; naturalHeight: number };
      return { complete: i.complete, w: i.naturalWidth, h: i.naturalHeight };
    }));
    assert.equal(imgs.length, 2);
    for (const [k, i] of imgs.entries()) assert.ok(i.complete && i.w > 0 && i.h > 0, `image ${k} did not render: ${JSON.stringify(i)}`);
    assert.match(await page.title(), /^advexp report: tiny-a vs tiny-b$/);
    assert.deepEqual(outside, [], 'requests that left the file');
    assert.deepEqual(errors, []);
    await ctx.close();
  } finally {
    await browser.close();
  }
});
