// A run folder's lock: one training process per folder, for the run's whole life.
//
// The lock is a file, run.lock, created with O_EXCL ('wx'), so of two processes starting at once exactly one
// creates it. It holds the holder's pid, its process start time (Linux: /proc/<pid>/stat, so a reused pid is not
// taken for the holder), host, folder and a random token. It is removed on release: at the end of the run, on an
// error, and from a process 'exit' handler (process.exit after a second Ctrl-C, an uncaught error). A holder that
// died without releasing (kill -9, power loss) leaves a stale lock: its pid is gone (process.kill(pid, 0) gives
// ESRCH) or now belongs to another process, and the next run takes it over with a note. Taking over replaces a file
// another process may be replacing too, so it happens under a second, short-lived lock (run.lock.takeover): of two
// processes finding the same stale lock, one replaces it and the other then sees a live holder.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { errnoOf } from '../io/errors.js';

export const LOCK_FILE = 'run.lock';
const TAKEOVER_FILE = 'run.lock.takeover';
/** A lock file still empty or unparsable after this long was left by a crash between creating and writing it. */
const UNWRITTEN_STALE_MS = 10_000;
/** The takeover lock is held for microseconds; one this old was left by a crash while holding it. */
const TAKEOVER_STALE_MS = 10_000;

interface Holder { pid: number; startTicks: number | null; host: string; dir: string; acquired: string; token: string }

/** The folder is locked by a live process: the message names the folder and the holder's pid. */
export class RunLockedError extends Error {
  override name = 'RunLockedError';
}

const held = new Set<RunLock>();
let exitHookInstalled = false;

/** A held lock. release() is idempotent and removes the file only while it is still this lock's. */
export class RunLock {
  /** When the lock was acquired (ms since the epoch): files of the run older than this are from earlier processes. */
  readonly acquiredAt: number;
  #released = false;
  constructor(readonly dir: string, readonly file: string, readonly token: string) {
    this.acquiredAt = Date.now();
  }
  get released(): boolean { return this.#released; }
  release(): void {
    if (this.#released) return;
    this.#released = true;
    held.delete(this);
    const h = readHolder(this.file);
    if (h !== null && h !== 'unwritten' && h.holder.token === this.token) fs.rmSync(this.file, { force: true });
  }
}

/** Start time of a process in clock ticks since boot (Linux), or null where it cannot be read. */
function processStartTicks(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (the command) is in parentheses and may hold spaces; field 22 (starttime) is the 20th after it.
    const v = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    return Number.isSafeInteger(v) ? v : null;
  } catch {
    return null;
  }
}

function realDir(dir: string): string {
  try { return fs.realpathSync(dir); } catch { return path.resolve(dir); }
}

/** The lock file's holder, 'unwritten' (empty or unparsable), or null (no file). */
function readHolder(file: string): { holder: Holder; raw: string; mtimeMs: number } | 'unwritten' | null {
  let raw: string, mtimeMs: number;
  try {
    raw = fs.readFileSync(file, 'utf8');
    mtimeMs = fs.statSync(file).mtimeMs;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const h = JSON.parse(raw) as Partial<Holder>;
    if (typeof h.pid === 'number' && Number.isSafeInteger(h.pid) && h.pid > 0 && typeof h.token === 'string') {
      return {
        holder: {
          pid: h.pid, startTicks: typeof h.startTicks === 'number' ? h.startTicks : null, host: String(h.host ?? ''),
          dir: String(h.dir ?? ''), acquired: String(h.acquired ?? ''), token: h.token,
        },
        raw, mtimeMs,
      };
    }
  } catch { /* unparsable */ }
  return Date.now() - mtimeMs > UNWRITTEN_STALE_MS ? { holder: { pid: 0, startTicks: null, host: '', dir: '', acquired: '', token: '' }, raw, mtimeMs } : 'unwritten';
}

/** Why the holder no longer holds the folder, or null when it (may) still run. */
function staleReason(h: Holder, dir: string): string | null {
  if (h.pid === 0) return 'an unfinished lock file, left by a crash';
  // A copy of a run folder carries its lock; the original folder still being there tells a copy from a move.
  if (h.dir !== '' && h.dir !== realDir(dir) && fs.existsSync(h.dir)) return `a lock copied with the folder from ${h.dir}`;
  if (h.host !== os.hostname()) return null; // another machine's process (a shared file system): cannot tell
  if (h.pid === process.pid) {
    // This process knows its own locks: a file naming it that it does not hold is a leftover.
    return [...held].some((l) => l.token === h.token) ? null : `pid ${h.pid} is this process, which does not hold it`;
  }
  try {
    process.kill(h.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return `pid ${h.pid} has exited`;
    // EPERM: the process exists (another user's); the start time below still tells a reused pid.
  }
  const now = processStartTicks(h.pid);
  if (h.startTicks !== null && now !== null && now !== h.startTicks) return `pid ${h.pid} is now another process`;
  return null;
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Creates the lock file (O_EXCL); false when it exists. */
function create(file: string, holder: Holder): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    fs.writeSync(fd, JSON.stringify(holder) + '\n');
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  return true;
}

/**
 * Replaces the stale lock `raw` with ours under the takeover lock. Returns true when ours is in place, false to retry
 * (the takeover lock was busy, or the lock file changed meanwhile).
 */
function takeOver(dir: string, file: string, raw: string, holder: Holder): boolean {
  const mutex = path.join(dir, TAKEOVER_FILE);
  if (!create(mutex, holder)) {
    try {
      if (Date.now() - fs.statSync(mutex).mtimeMs > TAKEOVER_STALE_MS) fs.rmSync(mutex, { force: true });
    } catch { /* gone meanwhile */ }
    sleepMs(20);
    return false;
  }
  try {
    let now: string;
    try { now = fs.readFileSync(file, 'utf8'); } catch { now = ''; }
    if (now !== raw) return false;
    fs.rmSync(file, { force: true });
    return create(file, holder);
  } finally {
    fs.rmSync(mutex, { force: true });
  }
}

/**
 * Locks `dir` (which must exist) for this process. Throws RunLockedError naming the folder and the holder's pid
 * when a live process holds it, and an Error naming the folder when the lock file cannot be made (EACCES, EROFS…).
 * note() hears of a stale lock taken over.
 */
export function acquireRunLock(dir: string, note: (message: string) => void = () => {}): RunLock {
  const file = path.join(dir, LOCK_FILE);
  const token = randomBytes(12).toString('hex');
  const holder: Holder = {
    pid: process.pid, startTicks: processStartTicks(process.pid), host: os.hostname(), dir: realDir(dir),
    acquired: new Date().toISOString(), token,
  };
  const won = (): RunLock => {
    const lock = new RunLock(dir, file, token);
    held.add(lock);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', () => { for (const l of [...held]) l.release(); });
    }
    return lock;
  };
  try {
    for (let attempt = 0; attempt < 100; attempt++) {
      if (create(file, holder)) return won();
      const h = readHolder(file);
      if (h === null) continue; // released meanwhile: try again
      if (h === 'unwritten') {
        // Created by a process that has not yet written its pid into it (microseconds): read it again.
        if (attempt < 99) { sleepMs(10); continue; }
        throw new RunLockedError(`${dir}: locked by another training process that is starting (${LOCK_FILE} not yet written); wait for it or stop it`);
      }
      const why = staleReason(h.holder, dir);
      if (why === null) {
        const other = h.holder.host !== os.hostname() ? ` on ${h.holder.host}` : '';
        throw new RunLockedError(`${dir}: in use by another training process (pid ${h.holder.pid}${other}, since ${h.holder.acquired}); ` +
          `wait for it to end or stop it (a lock whose process has gone is taken over)`);
      }
      if (takeOver(dir, file, h.raw, holder)) {
        note(`${dir}: took over a stale lock (${why})`);
        return won();
      }
    }
  } catch (e) {
    if (e instanceof RunLockedError) throw e;
    throw new Error(`${dir}: cannot lock the run folder (${errnoOf(e)})`);
  }
  throw new RunLockedError(`${dir}: could not lock the run folder: other processes keep taking it`);
}
