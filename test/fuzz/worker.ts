// The fuzz test's child process (inputs.test.ts starts it; it does nothing when run without a job, as the test runner
// does with every file under dist/test). It makes mutants, hands each to the in-process loaders, and reports one line
// per mutant on stdout: `B j` before it is tried (so a crash or a hang is pinned on it), `R {…}` after. Running in a
// child lets the parent stop it on a memory bound or a hang and go on with the next mutant.
import fs from 'node:fs';
import path from 'node:path';
import { KINDS, EXT, mutant, claimedPixels, claimsEmptyPng, pngClaims, modelConfig, configIsLarge, type Kind } from './mutate.js';

export interface Job {
  seed: number;
  /** Where mutant files are written (and removed after each). */
  dir: string;
  bases: Record<Kind, string>;
  /** Mutants j = from, from + 1, … (kind KINDS[j % 5], index ⌊j / 5⌋) until `to` (exclusive) or `deadline` (epoch ms). */
  from: number;
  to: number | null;
  deadline: number | null;
  /** Only these j (a replay), ascending, those ≥ from, when given. */
  only: number[] | null;
  /** Classes of mutants not tried (known issues not fixed here); see inputs.test.ts. */
  skip: string[];
  /** Files for the probes that tell whether a known issue is fixed; null: the parent already knows. */
  probes: ProbeFiles | null;
  pixelLimit: number;
}

export type Outcome = 'ok' | 'error' | 'violation';
export interface LoaderResult { loader: string; outcome: Outcome; message?: string; why?: string }
export interface MutantReport {
  j: number; kind: Kind; index: number; desc: string; tags: string[]; skipped: boolean; results: LoaderResult[]; ms: number; rss: number;
}
/** The known issues a probe checks (see inputs.test.ts KNOWN). */
export type KnownIssue = 'pixels' | 'secondIhdr' | 'model' | 'empty';
export interface ProbeFiles { pixels: string; secondIhdr: string; models: string[]; empty: string }
export type ProbeReport = Record<KnownIssue, { fixed: boolean; detail: string }>;

const RAW_ERRORS = ['TypeError', 'RangeError', 'ReferenceError', 'SyntaxError', 'EvalError', 'URIError'];

/** An error thrown by a loader, judged: an Error, one line, naming `file`, not a raw JavaScript error. */
export function judge(loader: string, e: unknown, file: string): LoaderResult {
  if (!(e instanceof Error)) return { loader, outcome: 'violation', why: `threw a non-Error (${typeof e}: ${String(e).slice(0, 100)})` };
  const message = e.message.slice(0, 300);
  if (e.message.includes('\n')) return { loader, outcome: 'violation', message, why: 'message has more than one line' };
  if (RAW_ERRORS.includes(e.name) || RAW_ERRORS.includes(e.constructor.name)) return { loader, outcome: 'violation', message, why: `a raw ${e.name}` };
  if (!e.message.includes(file)) return { loader, outcome: 'violation', message, why: 'message does not name the file' };
  return { loader, outcome: 'error', message };
}

function line(s: string): void { fs.writeSync(1, `${s}\n`); }

async function main(job: Job): Promise<void> {
  // Imported here, not at the top: the test runner also runs this file, without a job, and need not load libtorch.
  const { readSafetensors } = await import('../../src/io/safetensors.js');
  const { loadModel } = await import('../../src/io/model-file.js');
  const { readCifarBatch } = await import('../../src/data/cifar.js');
  const { loadDataset } = await import('../../src/data/load.js');
  const { loadImageFolder } = await import('../../src/data/images.js');
  const { decodeFilesSync } = await import('../../src/data/decode-sync.js');
  // The synchronous decoder the data layer uses (files, not bytes: the mutants are on disk).
  const decodeImage = (_bytes: Uint8Array, file: string): { width: number; height: number; rgb: Uint8Array } => decodeFilesSync([file])[0]!;
  const { setNumThreads } = await import('../../src/engine/index.js');
  setNumThreads(1);

  const call = (loader: string, file: string, fn: () => string | null): LoaderResult => {
    try {
      const bad = fn();
      return bad === null ? { loader, outcome: 'ok' } : { loader, outcome: 'violation', why: `returned an inconsistent result: ${bad}` };
    } catch (e) {
      return judge(loader, e, file);
    }
  };

  const loaders: Record<Kind, (file: string, bytes: Buffer) => LoaderResult[]> = {
    safetensors: (file) => [call('readSafetensors', file, () => {
      const st = readSafetensors(file);
      for (const [k, t] of st.tensors) if (t.data.length !== t.shape.reduce((a, d) => a * d, 1)) return `tensor ${k}: ${t.data.length} values for shape [${t.shape.join(',')}]`;
      return null;
    })],
    model: (file) => [call('loadModel', file, () => {
      const m = loadModel(file);
      m.model.dispose();
      return null;
    })],
    cifar: (file, bytes) => [
      call('readCifarBatch', file, () => {
        const set = readCifarBatch(file);
        return set.n * 3073 === bytes.length && set.labels.every((l) => l >= 0 && l <= 9) ? null : `${set.n} records from ${bytes.length} bytes`;
      }),
      call('loadDataset', file, () => {
        const set = loadDataset(file);
        return set.n * 3073 === bytes.length ? null : `${set.n} records from ${bytes.length} bytes`;
      }),
    ],
    png: (file, bytes) => images(file, bytes),
    jpeg: (file, bytes) => images(file, bytes),
  };
  function images(file: string, bytes: Buffer): LoaderResult[] {
    const decoded = call('decodeImage', file, () => {
      const img = decodeImage(bytes, file);
      return img.width > 0 && img.height > 0 && img.rgb.length === img.width * img.height * 3 ? null : `${img.width}×${img.height}, ${img.rgb.length} bytes`;
    });
    // The same file as the only picture of an image folder (the path `train` and `explain --data` read).
    const folder = path.join(path.dirname(file), `${path.basename(file)}.d`);
    const inFolder = path.join(folder, 'cls', path.basename(file));
    fs.mkdirSync(path.dirname(inFolder), { recursive: true });
    fs.writeFileSync(inFolder, bytes);
    const listed = call('loadImageFolder', inFolder, () => {
      const set = loadImageFolder(folder);
      // At the picture's own size (no --size), 1 channel when it is gray.
      const ok = set.n === 1 && (set.channels === 1 || set.channels === 3) && set.height >= 1 && set.width >= 1 && set.pixels.length === set.imageSize;
      return ok ? null : `${set.n} images of ${set.channels}×${set.height}×${set.width}`;
    });
    fs.rmSync(folder, { recursive: true, force: true });
    return [decoded, listed];
  }

  const bases = Object.fromEntries(KINDS.map((k) => [k, fs.readFileSync(job.bases[k])])) as Record<Kind, Buffer>;
  const baseMeta = metaStrings(bases.model);

  if (job.probes !== null) line(`P ${JSON.stringify(probe(job.probes, decodeImage, loadModel))}`);

  let maxRss = process.memoryUsage.rss();
  const next = (j: number): number | null => {
    if (job.only !== null) return job.only.find((o) => o >= j) ?? null;
    return job.to === null || j < job.to ? j : null;
  };
  for (let jj = next(job.from); jj !== null; jj = next(jj + 1)) {
    if (job.deadline !== null && Date.now() > job.deadline) break;
    line(`B ${jj}`);
    const kind = KINDS[jj % KINDS.length]!;
    const index = Math.floor(jj / KINDS.length);
    let m: ReturnType<typeof mutant>;
    try {
      m = mutant(job.seed, kind, index, bases[kind]);
    } catch (e) {
      // A bug of the test, not of advexp: say so rather than pin it on a loader.
      line(`R ${JSON.stringify({ j: jj, kind, index, desc: 'the mutator itself threw', tags: [], skipped: false, results: [{ loader: 'mutate.ts', outcome: 'violation', why: `test bug: ${String(e)}` }], ms: 0, rss: 0 } satisfies MutantReport)}`);
      continue;
    }
    const tags: string[] = [];
    if ((kind === 'png' || kind === 'jpeg') && claimedPixels(kind, m.bytes) > job.pixelLimit) tags.push('pixels');
    if (kind === 'png' && claimsEmptyPng(m.bytes)) tags.push('empty-image');
    if (kind === 'png' && pngClaims(m.bytes).slice(1).some((n) => n > job.pixelLimit)) tags.push('pixels-second-ihdr');
    if (kind === 'model') {
      const meta = metaStrings(m.bytes);
      if (meta !== null && baseMeta !== null && (meta.advexp_model !== baseMeta.advexp_model || meta.class_names !== baseMeta.class_names)) tags.push('model-config');
      const c = modelConfig(m.bytes);
      if (c !== null && configIsLarge(c)) tags.push('model-config-size');
    }
    const t0 = performance.now();
    let results: LoaderResult[] = [];
    const skipped = tags.some((t) => job.skip.includes(t));
    if (!skipped) {
      const file = path.join(job.dir, `${kind}-${index}.${EXT[kind]}`);
      fs.writeFileSync(file, m.bytes);
      results = loaders[kind](file, m.bytes);
      fs.rmSync(file, { force: true });
    }
    const rss = process.memoryUsage.rss();
    maxRss = Math.max(maxRss, rss);
    const report: MutantReport = { j: jj, kind, index, desc: m.desc, tags, skipped, results, ms: Math.round(performance.now() - t0), rss };
    line(`R ${JSON.stringify(report)}`);
  }
  line(`E ${JSON.stringify({ maxRss: Math.max(maxRss, process.resourceUsage().maxRSS * 1024) })}`);
}

/** The `__metadata__` strings of a safetensors image, when its header parses (null otherwise). */
function metaStrings(b: Buffer): Record<string, unknown> | null {
  try {
    const n = Number(b.readBigUInt64LE(0));
    const h = JSON.parse(b.subarray(8, 8 + n).toString('utf8')) as { __metadata__?: Record<string, unknown> };
    return h.__metadata__ ?? null;
  } catch {
    return null;
  }
}

/**
 * Is a known issue fixed in this tree? Each probe is cheap whichever way it comes out. Pixels (finding 1): a real PNG
 * just over the pixel limit must be refused with a one-line error naming it. Model configs (findings 3, 11): configs
 * that do not fit the tensors must be refused the same way. Empty images: a PNG of width 0 must be refused by
 * decodeImage (it decodes today, and libtorch's resize then fails without naming the file). A second IHDR: a 4×4 PNG
 * whose second IHDR claims more than the limit must be refused before decoding (pngjs decodes the second's size).
 */
function probe(p: ProbeFiles, decodeImage: (b: Uint8Array, f: string) => unknown, loadModel: (f: string) => { model: { dispose(): void } }): ProbeReport {
  const refused = (loader: string, file: string, fn: () => void): { fixed: boolean; detail: string } => {
    try {
      fn();
      return { fixed: false, detail: `${path.basename(file)} was accepted by ${loader}` };
    } catch (e) {
      const r = judge(loader, e, file);
      return { fixed: r.outcome === 'error', detail: r.outcome === 'error' ? '' : `${path.basename(file)}: ${r.why} (${r.message ?? ''})` };
    }
  };
  const models = p.models.map((f) => refused('loadModel', f, () => loadModel(f).model.dispose()));
  return {
    pixels: refused('decodeImage', p.pixels, () => decodeImage(fs.readFileSync(p.pixels), p.pixels)),
    secondIhdr: refused('decodeImage', p.secondIhdr, () => decodeImage(fs.readFileSync(p.secondIhdr), p.secondIhdr)),
    model: { fixed: models.every((m) => m.fixed), detail: models.filter((m) => !m.fixed).map((m) => m.detail).join('; ') },
    empty: refused('decodeImage', p.empty, () => decodeImage(fs.readFileSync(p.empty), p.empty)),
  };
}

const jobText = process.env.ADVEXP_FUZZ_JOB;
if (jobText !== undefined) await main(JSON.parse(jobText) as Job);
