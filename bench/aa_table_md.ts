// Prints the README's AutoAttack / ensemble-ARA table from bench/aa-table/*.json (bench/aa_table.ts's output),
// with the number of images each cell rests on.   node dist/bench/aa_table_md.js [--dir bench/aa-table] [--shared ../shared]
import fs from 'node:fs';
import path from 'node:path';
import { araExact } from '../src/metrics/ara.js';
import { modelFile, fileSha256 } from './aa_table_model.js';

const i = process.argv.indexOf('--dir');
const dir = path.resolve(i > 0 ? process.argv[i + 1]! : 'bench/aa-table');
const j = process.argv.indexOf('--shared');
const shared = path.resolve(j > 0 ? process.argv[j + 1]! : '../shared');
const read = (net: string, what: string): Record<string, unknown> | null => {
  const f = path.join(dir, `${net}-${what}.json`);
  return fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, 'utf8')) as Record<string, unknown> : null;
};
const sum = (a: number[]): number => a.reduce((s, v) => s + v, 0);
console.log('| net | images | clean acc | AutoAttack L∞ 8/255 | AutoAttack L2 0.5 | Attack ARA: paper routine / ensemble | minima found by paper / DDN / FMN |');
console.log('|---|---|---|---|---|---|---|');
for (const net of ['standard', 'adv-train', 'robust', 'all', 'default']) {
  // A row measured on other weights than today's file (the default model replaced since) says so; without the file
  // (no ../shared) nothing is claimed.
  const file = modelFile(net, shared);
  const now = fs.existsSync(file) ? fileSha256(file) : null;
  const stale = now !== null && ['aa-linf', 'aa-l2', 'ensemble'].some((w) => { const r = read(net, w); return r !== null && r.model_sha256 !== now; });
  const cells: string[] = [];
  let clean = '–';
  const counts: string[] = [];
  for (const what of ['aa-linf', 'aa-l2']) {
    const r = read(net, what) as { clean: number[]; robust: number[]; done: number } | null;
    if (r === null) { cells.push('–'); continue; }
    clean = `${sum(r.clean)}/${r.done}`;
    cells.push(`${(sum(r.robust) / r.done).toFixed(3)} (${sum(r.robust)}/${r.done})`);
    counts.push(`${what} ${r.done}`);
  }
  const e = read(net, 'ensemble') as { distances: Record<string, (number | null)[]>; done: number } | null;
  let ara = '–', shares = '–';
  if (e !== null) {
    // null: not broken (the routine's budget 20 in the ARA, as metrics/ara-ensemble.ts). The table's nets are CIFAR-10's: K = 10.
    const d = (k: string): number[] => e.distances[k]!.map((v) => (v === null ? (k === 'paper' || k === 'ensemble' ? 20 : Infinity) : v));
    ara = `${araExact(d('paper'), 10).toFixed(4)} / ${araExact(d('ensemble'), 10).toFixed(4)}`;
    const ens = d('ensemble');
    const pos = ens.flatMap((v, j) => (v > 0 ? [j] : []));
    const share = (k: string): string => `${((100 * pos.filter((j) => d(k)[j] === ens[j]).length) / Math.max(1, pos.length)).toFixed(0)}%`;
    shares = `${share('paper')} / ${share('ddn')} / ${share('fmn')}`;
    counts.push(`ensemble ${e.done}`);
  }
  console.log(`| ${net}${stale ? ' (earlier weights than today\'s file)' : ''} | ${counts.join(', ') || '–'} | ${clean} | ${cells[0]} | ${cells[1]} | ${ara} | ${shares} |`);
}
