// Issue 18, finding 13: `--lr -1` and `--queue -1` said "argument is ambiguous" (node's parser takes a leading dash
// for a flag); a negative number after a flag that takes a value is now that value, and the command's own range check
// answers. `--max-upload 0` said "expected 0 to 1024", which 0 is: the message now says what is accepted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse, joinNegativeValues } from '../../src/cli/args.js';
import { makeBatch, cyclicLabels } from '../data/make-cifar.js';
import { advexp, assertUserError } from '../helpers/cli.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'advexp-args-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

test('parse: a negative number is the value of the flag before it, in every spelling', () => {
  const opts = { x: { type: 'string' }, y: { type: 'string', multiple: true }, on: { type: 'boolean' } } as const;
  for (const v of ['-1', '-0.5', '-.5', '-1e-3', '-2E+4', '-7.']) {
    assert.equal(parse(['--x', v], opts).values.x, v, v);
    assert.equal(parse([`--x=${v}`], opts).values.x, v, `--x=${v}`);
  }
  assert.deepEqual(parse(['--y', '-1', '--y', '2', '--y', '-3'], opts).values.y, ['-1', '2', '-3']);
  // Not numbers, or not after a flag that takes a value: node's own rules still apply.
  assert.throws(() => parse(['--x', '-abc'], opts), /ambiguous/);
  assert.throws(() => parse(['--on', '-1'], opts), /Unknown option '-1'/);
  assert.throws(() => parse(['--x', '-1x'], opts), /ambiguous/);
  // After `--`, everything is a positional, as it was.
  assert.deepEqual(joinNegativeValues(['--x', '1', '--', '--x', '-1'], opts), ['--x', '1', '--', '--x', '-1']);
  assert.deepEqual(parse(['--', '-1'], opts, true).positionals, ['-1']);
  assert.deepEqual(joinNegativeValues(['--x', '-1', 'a', '--nope', '-2'], opts), ['--x=-1', 'a', '--nope', '-2']);
});

test('advexp train --lr -1 / --noise-std -0.5 / --milestones -5: parsed, then refused by train\'s own range checks', () => {
  const data = path.join(tmp, 'd.bin');
  fs.writeFileSync(data, makeBatch(cyclicLabels(20)));
  const out = path.join(tmp, 'run');
  const base = ['train', '--data', data, '--out', out, '--depth', '8', '--widths', '4,8,8', '--threads', '1'];
  for (const [flag, value, re] of [
    ['--lr', '-1', /^advexp: --lr: expected a positive number, got -1$/],
    ['--noise-std', '-0.5', /^advexp: --noise-std: expected a number ≥ 0, got -0\.5$/],
    ['--checkpoint-minutes', '-2', /^advexp: --checkpoint-minutes: expected a number ≥ 0, got '-2'$/],
    ['--seed', '-3', /^advexp: --seed: expected an integer ≥ 0, got '-3'$/],
  ] as const) {
    const r = advexp([...base, flag, value]);
    assertUserError(r, `${flag} ${value}`, re);
    assert.doesNotMatch(r.stderr, /ambiguous/);
  }
  assert.ok(!fs.existsSync(out));
});

test('advexp serve --queue -1 and --max-upload 0: range messages that are true', () => {
  assertUserError(advexp(['serve', '--queue', '-1']), '--queue -1', /^advexp: --queue: expected an integer ≥ 0, got '-1'$/);
  assertUserError(advexp(['serve', '--max-upload', '0']), '--max-upload 0', /^advexp: --max-upload: expected a size in MB above 0 and at most 1024, got '0'$/);
  assertUserError(advexp(['serve', '--max-upload', '-3']), '--max-upload -3', /--max-upload: expected a size in MB above 0 and at most 1024, got '-3'/);
  assertUserError(advexp(['serve', '--port', '-1']), '--port -1', /--port: expected an integer ≥ 0, got '-1'/);
});
