// Issue 16, CLI conventions: --version, help <command>, --quiet on every command, exit status 2 for usage and input
// errors and 1 for internal ones (documented in the top-level usage). `--json -` and output paths checked before
// the work are tested in outputs.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { advexp, assertUserError, CLI } from '../helpers/cli.js';
import { repoRoot } from '../helpers/shared.js';

const COMMANDS = ['predict', 'eval', 'train', 'explain', 'explain-eval', 'gradcam-attack', 'report', 'serve'];

test('--version (and -V, version) prints the package version', () => {
  const { version } = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'package.json'), 'utf8')) as { version: string };
  for (const flag of ['--version', '-V', 'version']) {
    const r = advexp([flag]);
    assert.equal(r.code, 0, flag);
    assert.equal(r.stdout.trim(), `advexp ${version}`, flag);
  }
});

test('help <command> prints that command\'s usage, not the top-level one', () => {
  for (const c of COMMANDS) {
    const r = advexp(['help', c]);
    assert.equal(r.code, 0, `help ${c}: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^usage: advexp ${c}\\b`), `help ${c}`);
    assert.equal(r.stdout, advexp([c, '--help']).stdout, `help ${c} = ${c} --help`);
  }
  assertUserError(advexp(['help', 'nope']), 'help nope', /unknown command 'nope'/);
});

test('the top-level usage lists every command and documents the exit status', () => {
  const r = advexp(['--help']);
  assert.equal(r.code, 0);
  for (const c of COMMANDS) assert.match(r.stdout, new RegExp(`^  ${c} `, 'm'), c);
  assert.match(r.stdout, /exit status: 0 done; 2 bad usage or input.*; 1 internal error/);
  assert.match(r.stdout, /advexp help <command>/);
  assert.match(r.stdout, /--version/);
});

test('every command takes --quiet', () => {
  for (const c of COMMANDS) {
    const r = advexp([c, '--quiet', '--help']);
    assert.equal(r.code, 0, `${c} --quiet: ${r.stderr}`);
    assert.match(r.stdout, /--quiet/, `${c}'s usage names --quiet`);
  }
});

test('exit status: 2 for a usage error, 1 for an internal error (here: the native addon cannot be loaded)', () => {
  assertUserError(advexp(['predict', '--nope']), 'unknown flag', /--nope/);
  assertUserError(advexp(['nope']), 'unknown command', /unknown command 'nope'/);
  const r = spawnSync(process.execPath, [CLI, 'report', '--data', '/nonexistent', '--out', '/tmp/x'], {
    encoding: 'utf8', timeout: 60_000, env: { ...process.env, ADVEXP_NATIVE: '/nonexistent/advexp_native.node' },
  });
  assert.equal(r.status, 1, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^advexp: ADVEXP_NATIVE=\/nonexistent\/advexp_native.node: no such file$/);
});
