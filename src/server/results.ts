// Saved evaluation results (advexp eval --json / --plot) in the folders given with --results. The folders are
// read afresh at each listing; a file is served only by the opaque id its listing gave, looked up in a new
// listing, so nothing the client sends becomes part of a path.
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import type { ResultEntry, ResultSummaryModel } from './api-types.js';

const KINDS: Record<string, ResultEntry['kind']> = { '.json': 'json', '.png': 'png', '.svg': 'svg' };
export const RESULT_TYPES: Record<ResultEntry['kind'], string> = {
  json: 'application/json; charset=utf-8', png: 'image/png', svg: 'image/svg+xml',
};
/** Files larger than this are listed but not summarised or served. */
export const MAX_RESULT_BYTES = 32 * 1024 * 1024;
const MAX_FILES = 500;

interface Found { entry: ResultEntry; file: string }

function idOf(folder: number, name: string): string {
  return createHash('sha256').update(`${folder}\0${name}`).digest('hex').slice(0, 20);
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

function summariseModel(r: Record<string, unknown>): ResultSummaryModel | null {
  if (typeof r.model !== 'string' || num(r.accuracy) === null) return null;
  const ara: Record<string, number> = {};
  const pgd: Record<string, number> = {};
  if (r.ara !== null && typeof r.ara === 'object') {
    for (const [k, v] of Object.entries(r.ara as Record<string, unknown>)) {
      const e = num((v as { exact?: unknown } | null)?.exact);
      if (e !== null) ara[k] = e;
    }
  }
  if (r.pgd !== null && typeof r.pgd === 'object') {
    for (const [k, v] of Object.entries(r.pgd as Record<string, unknown>)) {
      const a = num((v as { accuracy?: unknown } | null)?.accuracy);
      if (a !== null) pgd[k] = a;
    }
  }
  return { model: path.basename(r.model), n: num(r.n), accuracy: num(r.accuracy), balancedAccuracy: num(r.balanced_accuracy), auc: num(r.auc), ara, pgd };
}

/** The headline numbers of an advexp eval JSON (one model, or { models: [...] }); null for anything else. */
export function summariseEval(value: unknown): NonNullable<ResultEntry['summary']> | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
  const v = value as Record<string, unknown>;
  const rows = Array.isArray(v.models) ? v.models : [v];
  const models: ResultSummaryModel[] = [];
  for (const r of rows) {
    if (r === null || typeof r !== 'object') return null;
    const s = summariseModel(r as Record<string, unknown>);
    if (s === null) return null;
    models.push(s);
  }
  const settings = v.settings !== null && typeof v.settings === 'object' && !Array.isArray(v.settings) ? { ...(v.settings as Record<string, unknown>) } : null;
  if (settings !== null && typeof settings.data === 'string') settings.data = path.basename(settings.data);
  return { models, settings };
}

export class ResultsStore {
  readonly folders: string[];
  constructor(folders: readonly string[]) {
    this.folders = folders.map((f) => path.resolve(f));
  }

  #scan(): Found[] {
    const out: Found[] = [];
    this.folders.forEach((dir, d) => {
      let names: fs.Dirent[];
      try {
        names = fs.readdirSync(dir, { withFileTypes: true });
      } catch {
        return; // a folder that went away lists nothing
      }
      names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const e of names) {
        if (out.length >= MAX_FILES) return;
        if (!e.isFile() || e.name.startsWith('.')) continue;
        const kind = KINDS[path.extname(e.name).toLowerCase()];
        if (kind === undefined) continue;
        const file = path.join(dir, e.name);
        let st: fs.Stats;
        try { st = fs.statSync(file); } catch { continue; }
        out.push({ file, entry: { id: idOf(d, e.name), name: e.name, folder: path.basename(dir), kind, bytes: st.size, modified: st.mtime.toISOString() } });
      }
    });
    return out;
  }

  /** Every result file, JSON ones with their summary. */
  list(): ResultEntry[] {
    return this.#scan().map(({ entry, file }) => {
      if (entry.kind !== 'json') return entry;
      let summary: NonNullable<ResultEntry['summary']> | null = null;
      if (entry.bytes <= MAX_RESULT_BYTES) {
        try { summary = summariseEval(JSON.parse(fs.readFileSync(file, 'utf8'))); } catch { summary = null; }
      }
      return { ...entry, summary };
    });
  }

  /** The file's bytes and type, by id; null when no listed file has that id (or it is too large or unreadable). */
  read(id: string): { kind: ResultEntry['kind']; name: string; bytes: Buffer } | null {
    if (!/^[0-9a-f]{20}$/.test(id)) return null;
    const hit = this.#scan().find((f) => f.entry.id === id);
    if (hit === undefined || hit.entry.bytes > MAX_RESULT_BYTES) return null;
    try {
      return { kind: hit.entry.kind, name: hit.entry.name, bytes: fs.readFileSync(hit.file) };
    } catch {
      return null;
    }
  }
}
