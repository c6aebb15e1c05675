// Preloaded (node --import) into the CLI processes the fuzz test starts: on exit, writes the process's peak resident
// memory (getrusage's ru_maxrss, in KB) to the file descriptor ADVEXP_FUZZ_RSS_FD names. Does nothing without it
// (the test runner also runs this file).
import fs from 'node:fs';

const fd = Number(process.env.ADVEXP_FUZZ_RSS_FD);
if (Number.isInteger(fd) && fd > 2) {
  process.on('exit', () => {
    try { fs.writeSync(fd, `${process.resourceUsage().maxRSS}\n`); } catch { /* the parent stopped listening */ }
  });
}
