// Locates the read-only ../shared folder (reference models, CIFAR-10 data) beside the repository root.
// Walks up from this file to the first directory holding package.json, so it works from test/ (ts) and from
// dist/test/ (compiled) alike. ADVEXP_SHARED overrides the location.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** Absolute path of the shared folder, or null when it is absent. */
export function sharedDir(): string | null {
  const dir = process.env.ADVEXP_SHARED ?? path.join(repoRoot(), '..', 'shared');
  return fs.existsSync(dir) && fs.statSync(dir).isDirectory() ? dir : null;
}

/**
 * Returns the shared folder, or marks the test skipped (loudly: a silent skip hides missing coverage) and returns
 * null. Callers must `return` on null, since t.skip() does not stop the test body.
 */
export function skipUnlessShared(t: TestContext, ...needs: string[]): string | null {
  const dir = sharedDir();
  const missing = dir === null ? null : needs.find((p) => !fs.existsSync(path.join(dir, p)));
  if (dir === null || missing !== undefined) {
    const what = dir === null ? '../shared not found' : `../shared/${missing} not found`;
    console.warn(`\n*** SKIPPED: ${what} — test "${t.name}" did not run ***\n`);
    t.skip(`SKIPPED: ${what}`);
    return null;
  }
  return dir;
}
