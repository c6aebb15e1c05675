// The built page (dist/web, made by `npm run build:web`): every file is read into memory at start, and a request
// is answered only when its URL path is one of those files. No request path is ever joined to a directory.
import fs from 'node:fs';
import path from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8', '.txt': 'text/plain; charset=utf-8', '.woff2': 'font/woff2',
};

export interface StaticFile { body: Buffer; type: string; immutable: boolean }

const MAX_FILES = 500;
const MAX_TOTAL = 64 * 1024 * 1024;

/** Reads the built page into memory; an empty map when `root` is missing (the API still works). */
export function loadStaticFiles(root: string | null): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  if (root === null || !fs.existsSync(path.join(root, 'index.html'))) return files;
  let total = 0;
  const walk = (dir: string, url: string, depth: number): void => {
    if (depth > 6) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue;
      const full = path.join(dir, e.name);
      if (e.isDirectory()) { walk(full, `${url}${e.name}/`, depth + 1); continue; }
      if (!e.isFile()) continue;
      const type = TYPES[path.extname(e.name).toLowerCase()];
      if (type === undefined) continue;
      const body = fs.readFileSync(full);
      total += body.length;
      if (files.size >= MAX_FILES || total > MAX_TOTAL) throw new Error(`${root}: too many or too large files for the page`);
      files.set(`${url}${e.name}`, { body, type, immutable: url.startsWith('/assets/') });
    }
  };
  walk(root, '/', 0);
  const index = files.get('/index.html');
  if (index !== undefined) files.set('/', index);
  return files;
}
