// Runs the built CLI as a user does (a real process) and checks its one-line errors. Every run has a timeout, so a
// command that blocks (a FIFO opened for reading, a device read without end) fails the test instead of hanging it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './shared.js';

/** The built CLI; ADVEXP_TEST_CLI runs the tests against another build (e.g. the code before a fix, to see them fail). */
export const CLI = process.env.ADVEXP_TEST_CLI ?? path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');

export interface CliRun { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/**
 * `advexp ARGS…` with a timeout (default 60 s); a run killed by the timeout has code null and signal SIGKILL.
 * `uid`/`gid` run it as another user (only a root test process may).
 */
export function advexp(args: string[], opts: { timeoutMs?: number; cwd?: string; uid?: number; gid?: number } = {}): CliRun {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8', timeout: opts.timeoutMs ?? 60_000, killSignal: 'SIGKILL', ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    ...(opts.uid !== undefined ? { uid: opts.uid } : {}), ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Asserts a run ended with exit code 2 and one stderr line `advexp: …` matching every pattern. */
export function assertUserError(r: CliRun, what: string, ...patterns: RegExp[]): void {
  assert.equal(r.signal, null, `${what}: killed by ${r.signal} (it hung)`);
  assert.equal(r.code, 2, `${what}: exit ${r.code}, stderr ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `${what}: expected one line, got ${r.stderr}`);
  assert.match(lines[0]!, /^advexp: /, what);
  for (const re of patterns) assert.match(lines[0]!, re, what);
}
