// `advexp train` as a user runs it: argument errors (one line, exit 2), a short run, SIGTERM → checkpoint →
// clean exit → --resume finishes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { repoRoot } from '../helpers/shared.js';
import { tmpDir, makeLearnableBatch, makeBatch } from '../data/make-cifar.js';

const main = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
const root = tmpDir('advexp-cli-train-');
process.on('exit', () => fs.rmSync(root, { recursive: true, force: true }));
const data = path.join(root, 'train.bin');
fs.writeFileSync(data, makeLearnableBatch(48, 2));
const TINY = ['--depth', '8', '--widths', '4,8,16', '--batch', '16', '--val', '8', '--threads', '1'];

function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [main, 'train', ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function userError(args: string[], re: RegExp): void {
  const r = cli(args);
  assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}, stderr ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^advexp: /);
  assert.match(lines[0]!, re);
}

test('argument and data errors: one line, exit 2, naming the argument or file', () => {
  const out = path.join(root, 'o');
  userError([], /--data is required/);
  userError(['--data', data], /--out is required/);
  userError(['--data', data, '--out', out, '--mode', 'fancy'], /--mode: expected one of standard\|lipschitz\|adversarial\|all/);
  userError(['--data', data, '--out', out, '--depth', '10'], /--depth: expected 6n\+2/);
  userError(['--data', data, '--out', out, '--widths', '4,8'], /--widths/);
  userError(['--data', data, '--out', out, '--lr', 'fast'], /--lr: expected a number/);
  userError(['--data', data, '--out', out, '--l2-min'], /--l2-min: needs --mode adversarial or all/);
  userError(['--data', data, '--out', out, '--milestones', '5,3'], /--milestones: must increase/);
  userError(['--data', data, '--out', out, '--penalty', 'cheap'], /--penalty: expected double-backprop\|finite-difference, got 'cheap'/);
  userError(['--data', data, '--out', out, '--mode', 'standard', '--penalty', 'finite-difference'], /--penalty: needs --mode lipschitz or all/);
  userError(['--data', data, '--out', out, '--mode', 'standard', '--loss-target', '1'], /--loss-target: needs --mode lipschitz or all \(got standard\)/);
  userError(['--data', data, '--out', out, '--fd-step', '0'], /--fd-step: expected a number in \(0, 1\]/);
  userError(['--data', data, '--out', out, '--bogus'], /Unknown option '--bogus'/);
  userError(['--data', path.join(root, 'missing.bin'), '--out', out], /missing\.bin: cannot open data \(ENOENT\)/);
  const bad = path.join(root, 'bad.bin');
  fs.writeFileSync(bad, makeBatch([1, 2, 3, 11]));
  userError(['--data', bad, '--out', out, '--val', '0'], /bad\.bin: record 3 has label byte 11/);
  userError(['--data', data, '--out', out, '--val', '48'], /--val 48 leaves no training images/);
  userError(['--resume', path.join(root, 'nothing')], /nothing\/state\.json: cannot read training state/);
  userError(['--resume', out, '--lr', '0.5'], /--lr cannot be changed when resuming/);
});

test('a short run prints its result; SIGTERM writes a checkpoint and exits; --resume finishes', async () => {
  const out = path.join(root, 'run');
  const r = cli(['--data', data, '--out', path.join(root, 'short'), ...TINY, '--epochs', '1', '--mode', 'standard']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /model\.safetensors: 1 epochs, validation accuracy \d\.\d{4}/);
  assert.match(r.stderr, /training into .*mode standard, PreActResNet-8 4\/8\/16 relu .* 40 training \/ 8 validation images/);
  assert.match(r.stderr, /epoch 1\/1: loss .* val acc .* img\/s/);
  userError(['--resume', path.join(root, 'short'), '--epochs', '2', '--loss-target', '1'], /--loss-target: this run's mode is standard, which has no ψ to steer/);

  const child = spawn(process.execPath, [main, 'train', '--data', data, '--out', out, ...TINY, '--epochs', '500', '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  // Wait for a couple of completed epochs, then ask it to stop.
  const state = path.join(out, 'state.json');
  for (let i = 0; i < 600; i++) {
    await new Promise((res) => setTimeout(res, 50));
    if (fs.existsSync(state) && (JSON.parse(fs.readFileSync(state, 'utf8')) as { epoch: number }).epoch >= 2) break;
  }
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
  assert.equal(code, 143, stderr);
  assert.match(stderr, /SIGTERM: finishing the current batch/);
  const s = JSON.parse(fs.readFileSync(state, 'utf8')) as { epoch: number; batchInEpoch: number; finished: boolean; step: number };
  assert.equal(s.finished, false);
  assert.ok(s.epoch >= 2 && s.epoch < 500);
  assert.equal(s.step, s.epoch * 3 + s.batchInEpoch);
  assert.deepEqual(fs.readdirSync(out).filter((f) => f.endsWith('.tmp')), []);
  assert.equal(fs.existsSync(path.join(out, 'run.lock')), false, 'the lock is released on SIGTERM');
  const target = s.epoch + 1;
  // The remaining epoch steers ψ to another cross-entropy (a fine-tune toward accuracy); the state keeps it.
  const again = cli(['--resume', out, '--epochs', String(target), '--loss-target', '0.9', '--threads', '1', '--quiet']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`${target} epochs, validation accuracy`));
  const fin = JSON.parse(fs.readFileSync(state, 'utf8')) as { epoch: number; finished: boolean; step: number; options: { lossTarget: number | null } };
  assert.equal(fin.options.lossTarget, 0.9);
  assert.equal(fin.epoch, target);
  assert.equal(fin.finished, true);
  assert.equal(fin.step, target * 3);
});
