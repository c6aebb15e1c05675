// Issue 16: what `npm pack` ships. Every public entry point of the exports map (and its types) is in the tarball and
// built; no training checkpoints, logs or source maps (they pointed at sources the tarball lacks); the install script
// and what it builds from are there; engines covers what the runtime dependency tree asks for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { repoRoot } from '../helpers/shared.js';

const root = repoRoot();
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, string | { types: string; default: string }>; bin: Record<string, string>; engines: { node: string };
  scripts: Record<string, string>; dependencies: Record<string, string>;
};

function packedFiles(): string[] {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
}

test('the tarball: entry points, types, bin, install script and addon sources in; checkpoints, logs, maps, tests out', () => {
  const files = new Set(packedFiles());
  const targets = Object.entries(pkg.exports).filter(([k]) => !k.includes('*')).flatMap(([, v]) => (typeof v === 'string' ? [v] : [v.types, v.default]));
  for (const t of [...targets, ...Object.values(pkg.bin)]) {
    const rel = t.replace(/^\.\//, '');
    assert.ok(files.has(rel), `${rel} is not packed`);
    assert.ok(fs.existsSync(path.join(root, rel)), `${rel} is not built`);
  }
  for (const f of ['scripts/install.mjs', 'scripts/build-native.mjs', 'native/binding.gyp', 'native/src/addon.cc', 'models/default.safetensors',
    'models/card-eval.json', 'dist/web/index.html']) assert.ok(files.has(f), `${f} is not packed`);
  const bad = [...files].filter((f) => /\.map$|^models\/training\/|^dist\/test\/|^dist\/bench\/|^runs\/|^src\/|^test\/|\.tmp$/.test(f));
  assert.deepEqual(bad, []);
  assert.equal(pkg.scripts.install, 'node scripts/install.mjs');
});

test('the exports map: the public entry points, each with its types', () => {
  for (const name of ['.', './engine', './nn', './attack', './explain', './train', './server']) {
    const e = pkg.exports[name];
    assert.ok(e !== undefined && typeof e !== 'string', `${name} missing`);
    assert.match(e.types, /\.d\.ts$/);
  }
});

test('engines: no runtime dependency asks for a newer Node than the package says', () => {
  // ">=A.B.C" (missing parts 0) as one comparable number.
  const version = (range: string): number | null => {
    const m = /^>=\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(range.trim());
    return m === null ? null : Number(m[1]) * 1e6 + Number(m[2] ?? 0) * 1e3 + Number(m[3] ?? 0);
  };
  const min = version(pkg.engines.node);
  assert.ok(min !== null, `engines.node '${pkg.engines.node}'`);
  const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; engines?: { node?: string } }> };
  const tooNew = Object.entries(lock.packages).filter(([k, v]) => k !== '' && v.dev !== true && v.engines?.node !== undefined)
    .filter(([, v]) => {
      const want = version(v.engines!.node!);
      return want !== null && want > min;
    }).map(([k, v]) => `${k} ${v.engines!.node}`);
  assert.deepEqual(tooNew, [], 'runtime dependencies requiring a newer Node than engines.node');
});

test('install script without libtorch: exit 0 and one message saying what to install; build:native: exit 1 with it', () => {
  const env: NodeJS.ProcessEnv = { ...process.env, LIBTORCH: '/nonexistent/libtorch' };
  delete env.ADVEXP_SKIP_NATIVE;
  const inst = spawnSync(process.execPath, [path.join(root, 'scripts', 'install.mjs')], { encoding: 'utf8', env, timeout: 60_000 });
  assert.equal(inst.status, 0, inst.stderr);
  const lines = inst.stderr.trim().split('\n');
  assert.equal(lines.length, 1, inst.stderr);
  assert.match(lines[0]!, /^advexp: native addon NOT built \(missing LIBTORCH=\/nonexistent\/libtorch has no include\/torch/);
  assert.match(lines[0]!, /apt-get install libtorch-dev g\+\+ make python3/);
  assert.match(lines[0]!, /npm rebuild advexp$/);
  const build = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-native.mjs')], { encoding: 'utf8', env, timeout: 60_000 });
  assert.equal(build.status, 1);
  assert.match(build.stderr, /^advexp: cannot build the native addon: missing LIBTORCH=\/nonexistent\/libtorch .*apt-get install libtorch-dev/);
  const skip = spawnSync(process.execPath, [path.join(root, 'scripts', 'install.mjs')], { encoding: 'utf8', env: { ...env, ADVEXP_SKIP_NATIVE: '1' }, timeout: 60_000 });
  assert.equal(skip.status, 0);
  assert.match(skip.stdout, /ADVEXP_SKIP_NATIVE=1: native addon not built/);
});
