// Files a user names: checked to be regular files before they are opened, so a FIFO, a device (/dev/zero) or a
// directory is a one-line error instead of a read that blocks or never ends.
import fs from 'node:fs';
import { errnoOf } from './errors.js';

/**
 * The stats of `file` when it is a regular file (symbolic links followed); otherwise an Error
 * "`file`: cannot read `what` (ENOENT | not a regular file)". Call it before opening the file.
 */
export function regularFile(file: string, what: string): fs.Stats {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    throw new Error(`${file}: cannot read ${what} (${errnoOf(e)})`);
  }
  if (!st.isFile()) throw new Error(`${file}: cannot read ${what} (not a regular file)`);
  return st;
}
