// Nothing half-written: write a temp file beside the target, then rename over it.
import fs from 'node:fs';
import path from 'node:path';
import { errnoOf } from './errors.js';

/**
 * Writes `data` to `file` through a fresh temp file beside it (flushed to disk before the rename), so a reader or a
 * crash sees the old file or the new one, never half of one. A failure is an Error naming `file` (never the temp
 * file) with the file system's code ("x.json: cannot write (ENOSPC)", `code` kept); the temp file is gone.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  try {
    const fd = fs.openSync(tmp, 'wx');
    try {
      let done = 0;
      while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    const code = (e as NodeJS.ErrnoException | null)?.code;
    throw Object.assign(new Error(`${file}: cannot write (${errnoOf(e)})`), code === undefined ? {} : { code });
  }
}

export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, JSON.stringify(value, null, 1) + '\n');
}
