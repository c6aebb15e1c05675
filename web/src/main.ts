// The explorer page: pick an image (drop, file picker, or a CIFAR record), then ask the server for the class
// probabilities and the explanations. The AE grid is recomputed on the server when ρ changes; a newer request
// aborts an older one, so what is shown always matches the current image, model and ρ.
import type { ModelInfo, ResultEntry, MethodInfoJson, MapJson } from '../../src/server/api-types.js';
import {
  ApiFailure, getJson, predict, explain, type Source, type DataInfo, type ExplainResponse, type MethodsResponse,
  type ModelsResponse, type PredictResponse, type RecordsResponse, type ResultsResponse,
} from './api.js';

// ---- tiny DOM helpers (textContent only: names from model files are never parsed as HTML) ----
function $<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`page element #${id} missing`);
  return el as T;
}

type Attrs = Record<string, string | number | boolean | undefined>;
function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Node | string | null)[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k === 'class') el.className = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null) el.append(c);
  return el;
}

const fmtP = (p: number): string => (p >= 0.995 ? '1.00' : p < 0.005 ? p.toExponential(0) : p.toFixed(2));
const fmtRho = (r: number): string => r.toFixed(2);

// ---- state ----
interface State {
  models: ModelInfo[];
  model: string;
  methods: MethodsResponse | null;
  data: DataInfo;
  source: Source | null;
  rho: number;
  recordsOffset: number;
  predicted: number | null;
  label: number | null;
}

const state: State = {
  models: [], model: '', methods: null, data: { available: false }, source: null, rho: 0.1,
  recordsOffset: 0, predicted: null, label: null,
};

const current = (): ModelInfo | undefined => state.models.find((m) => m.id === state.model);
const mapMethods = (): MethodInfoJson[] => (state.methods?.methods ?? []).filter((m) => m.name === 'gradcam' || m.name === 'lime');

// ---- errors and the busy indicator ----
function showError(msg: string | null): void {
  const el = $('error');
  el.textContent = msg ?? '';
  el.hidden = msg === null;
}

const isAbort = (e: unknown): boolean => e instanceof DOMException && e.name === 'AbortError';

const jobs = new Map<string, { text: string; t0: number }>();
let busyTimer: number | null = null;
function renderBusy(): void {
  const busy = $('busy');
  const last = [...jobs.values()].pop();
  busy.hidden = last === undefined;
  document.body.setAttribute('aria-busy', last === undefined ? 'false' : 'true');
  if (last === undefined) {
    if (busyTimer !== null) { clearInterval(busyTimer); busyTimer = null; }
    return;
  }
  const s = (performance.now() - last.t0) / 1000;
  $('busy-text').textContent = s >= 1 ? `${last.text} ${s.toFixed(0)} s` : last.text;
  busyTimer ??= window.setInterval(renderBusy, 500);
}
function busyStart(key: string, text: string): void { jobs.set(key, { text, t0: performance.now() }); renderBusy(); }
function busyEnd(key: string): void { jobs.delete(key); renderBusy(); }

// ---- models ----
function renderModelInfo(): void {
  const m = current();
  $('model-info').textContent = m === undefined ? '' : `${m.architecture}${m.description ? ` · ${m.description}` : ''}`;
}

function renderModels(): void {
  const sel = $<HTMLSelectElement>('model');
  sel.replaceChildren(...state.models.map((m) => h('option', { value: m.id, selected: m.id === state.model }, `${m.name}${m.default ? ' (default)' : ''}`)));
  sel.disabled = state.models.length < 2;
  renderModelInfo();
}

// ---- the input, probabilities and explanations ----
function classNames(): string[] { return current()?.classNames ?? []; }

function renderPrediction(r: PredictResponse): void {
  $('empty').hidden = true;
  $('analysis').hidden = false;
  const img = $<HTMLImageElement>('input-image');
  img.src = r.input.image;
  state.predicted = r.predicted;
  state.label = r.input.label ?? null;
  const names = classNames();
  const lbl = r.input.label !== undefined ? ` · label: ${names[r.input.label] ?? r.input.label}` : '';
  $('input-note').textContent = `${r.input.note}${lbl}`;
  const probs = $('probs');
  probs.replaceChildren(...r.probabilities.map((c) => {
    const bar = h('span', { class: 'bar' });
    bar.style.width = `${(c.p * 100).toFixed(1)}%`;
    const cls = ['prob', c.class === r.predicted ? 'predicted' : '', c.class === r.input.label ? 'label' : ''].join(' ').trim();
    return h('li', { class: cls, 'data-class': c.class, title: `${c.name}: ${(c.p * 100).toFixed(2)}%` },
      h('span', { class: 'name' }, c.name), h('span', { class: 'track' }, bar), h('span', { class: 'value' }, `${(c.p * 100).toFixed(1)}%`));
  }));
  probs.dataset.model = r.model;
  markGrid();
}

/** Marks the predicted and labelled classes on the AE cards. */
function markGrid(): void {
  for (const card of $('ae-grid').querySelectorAll<HTMLElement>('.ae-card')) {
    const k = Number(card.dataset.class);
    card.classList.toggle('predicted', k === state.predicted);
    card.classList.toggle('label', k === state.label);
  }
}

function renderAe(r: ExplainResponse): void {
  const grid = $('ae-grid');
  const showDelta = $<HTMLInputElement>('show-delta').checked;
  if (r.ae === undefined) return;
  grid.replaceChildren(...r.ae.targets.map((t) => {
    const img = h('img', { alt: `adversarial explanation: ${t.name}`, width: 96, height: 96 });
    img.src = showDelta ? t.delta : t.image;
    img.dataset.image = t.image;
    img.dataset.delta = t.delta;
    const moved = t.predictedAfter === t.target ? 'reached' : 'not reached';
    return h('figure', { class: 'ae-card', 'data-class': t.target, title: `${t.name}: p ${t.pBefore.toFixed(4)} → ${t.pAfter.toFixed(4)}, RMS(δ) ${t.rms.toFixed(4)}, argmax after: ${classNames()[t.predictedAfter] ?? t.predictedAfter}` },
      img,
      h('figcaption', {},
        h('span', { class: 'cname' }, t.name),
        h('span', { class: `pp ${moved.replace(' ', '-')}` }, `${fmtP(t.pBefore)} → ${fmtP(t.pAfter)}`)));
  }));
  grid.dataset.rho = fmtRho(r.params.rho);
  grid.dataset.model = r.model;
  grid.dataset.state = 'ready';
  grid.setAttribute('aria-busy', 'false');
  markGrid();
}

function renderMaps(r: ExplainResponse | null): void {
  const box = $('maps');
  const figs = mapMethods().map((m) => {
    const res = r === null ? undefined : (r as unknown as Record<string, MapJson | undefined>)[m.name];
    if (res === undefined) {
      return h('figure', { class: 'map pending', 'data-method': m.name }, h('div', { class: 'placeholder' }, '…'), h('figcaption', { class: 'small' }, h('b', {}, m.label)));
    }
    const img = h('img', { alt: `${m.label} for ${res.name}`, width: 128, height: 128 });
    img.src = res.image;
    return h('figure', { class: 'map', 'data-method': m.name }, img,
      h('figcaption', { class: 'small' }, h('b', {}, m.label), ` for ${res.name}`, res.detail ? h('span', { class: 'muted' }, ` · ${res.detail}`) : null));
  });
  box.replaceChildren(...figs);
  box.hidden = figs.length === 0;
  box.dataset.state = r === null ? 'busy' : 'ready';
  if (r !== null) box.dataset.model = r.model;
}

// ---- requests ----
let predictCtrl: AbortController | null = null;
let aeCtrl: AbortController | null = null;
let mapsCtrl: AbortController | null = null;

async function runPredict(): Promise<void> {
  const src = state.source;
  if (src === null) return;
  predictCtrl?.abort();
  const ctrl = (predictCtrl = new AbortController());
  busyStart('predict', 'Classifying…');
  try {
    const r = await predict(src, state.model, ctrl.signal);
    if (ctrl === predictCtrl) { renderPrediction(r); showError(null); }
  } catch (e) {
    if (!isAbort(e) && ctrl === predictCtrl) showError(e instanceof ApiFailure ? e.message : `request failed: ${(e as Error).message}`);
  } finally {
    if (ctrl === predictCtrl) { predictCtrl = null; busyEnd('predict'); }
  }
}

/** The AE grid at the current ρ (the only request the slider makes). */
async function runAe(): Promise<void> {
  const src = state.source;
  if (src === null || state.methods === null) return;
  aeCtrl?.abort();
  const ctrl = (aeCtrl = new AbortController());
  const grid = $('ae-grid');
  grid.dataset.state = 'busy';
  grid.setAttribute('aria-busy', 'true');
  busyStart('ae', `Computing ${classNames().length} adversarial explanations (ρ = ${fmtRho(state.rho)})…`);
  try {
    const r = await explain(src, state.model, ['ae'], state.rho, ctrl.signal);
    if (ctrl !== aeCtrl) return;
    renderAe(r);
    showError(null);
  } catch (e) {
    if (!isAbort(e) && ctrl === aeCtrl) {
      grid.dataset.state = 'error';
      showError(e instanceof ApiFailure ? e.message : `request failed: ${(e as Error).message}`);
    }
  } finally {
    if (ctrl === aeCtrl) { aeCtrl = null; busyEnd('ae'); }
  }
}

/** Grad-CAM and LIME of the predicted class (they do not depend on ρ). */
async function runMaps(): Promise<void> {
  const src = state.source;
  const methods = mapMethods().map((m) => m.name);
  renderMaps(null);
  if (src === null || methods.length === 0) return;
  mapsCtrl?.abort();
  const ctrl = (mapsCtrl = new AbortController());
  busyStart('maps', `Computing ${mapMethods().map((m) => m.label).join(' and ')}…`);
  try {
    const r = await explain(src, state.model, methods, state.rho, ctrl.signal);
    if (ctrl === mapsCtrl) renderMaps(r);
  } catch (e) {
    if (!isAbort(e) && ctrl === mapsCtrl) showError(e instanceof ApiFailure ? e.message : `request failed: ${(e as Error).message}`);
  } finally {
    if (ctrl === mapsCtrl) { mapsCtrl = null; busyEnd('maps'); }
  }
}

/** A new image or model: probabilities first (quick), then the AE grid, then the maps; the server queues them. */
function analyse(): void {
  void runPredict();
  void runAe();
  void runMaps();
}

function selectSource(src: Source): void {
  state.source = src;
  for (const b of document.querySelectorAll('.record.selected')) b.classList.remove('selected');
  if (src.kind === 'record') document.querySelector(`.record[data-index="${src.index}"]`)?.classList.add('selected');
  $('ae-grid').replaceChildren();
  analyse();
}

// ---- picking an image ----
function takeFile(file: File | undefined): void {
  if (file === undefined) return;
  const max = state.methods?.limits.maxUploadBytes ?? Infinity;
  if (file.size > max) {
    showError(`${file.name} is ${(file.size / 1048576).toFixed(1)} MB; the server accepts up to ${(max / 1048576).toFixed(0)} MB`);
    return;
  }
  selectSource({ kind: 'file', file });
}

function wireInput(): void {
  const drop = $('drop');
  const input = $<HTMLInputElement>('file');
  $('pick').addEventListener('click', () => input.click());
  input.addEventListener('change', () => { takeFile(input.files?.[0]); input.value = ''; });
  drop.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); input.click(); } });
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    takeFile(e.dataTransfer?.files[0]);
  });
  // A file dropped anywhere else should not make the browser navigate away.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());

  const rho = $<HTMLInputElement>('rho');
  rho.addEventListener('input', () => { $('rho-value').textContent = fmtRho(Number(rho.value)); });
  rho.addEventListener('change', () => {
    state.rho = Number(rho.value);
    $('rho-value').textContent = fmtRho(state.rho);
    void runAe();
  });
  $<HTMLInputElement>('show-delta').addEventListener('change', (e) => {
    const d = (e.target as HTMLInputElement).checked;
    for (const img of $('ae-grid').querySelectorAll('img')) img.src = (d ? img.dataset.delta : img.dataset.image) ?? img.src;
  });
  $<HTMLSelectElement>('model').addEventListener('change', (e) => {
    state.model = (e.target as HTMLSelectElement).value;
    renderModelInfo();
    analyse();
  });
}

// ---- CIFAR records ----
const PAGE = 24;
async function loadRecords(offset: number): Promise<void> {
  if (!state.data.available) return;
  const total = state.data.records ?? 0;
  const off = Math.max(0, Math.min(offset, Math.max(0, total - 1)));
  try {
    const r = await getJson<RecordsResponse>(`/api/data/records?offset=${off}&limit=${PAGE}`);
    state.recordsOffset = r.offset;
    $('records').replaceChildren(...r.records.map((rec) => {
      const img = h('img', { alt: `record ${rec.index}: ${rec.className}`, width: 48, height: 48 });
      img.src = rec.image;
      const selected = state.source?.kind === 'record' && state.source.index === rec.index;
      const b = h('button', { type: 'button', class: `record${selected ? ' selected' : ''}`, 'data-index': rec.index, title: `record ${rec.index}: ${rec.className}` }, img);
      b.addEventListener('click', () => selectSource({ kind: 'record', index: rec.index }));
      return b;
    }));
    $('records-range').textContent = `${r.offset}–${r.offset + r.records.length - 1} of ${r.total}`;
    $<HTMLButtonElement>('records-prev').disabled = r.offset === 0;
    $<HTMLButtonElement>('records-next').disabled = r.offset + r.records.length >= r.total;
  } catch (e) {
    showError(e instanceof ApiFailure ? e.message : `could not load records: ${(e as Error).message}`);
  }
}

function wireRecords(): void {
  if (!state.data.available) return;
  $('records-panel').hidden = false;
  $('records-source').textContent = `${state.data.name ?? ''}, ${state.data.records ?? 0} records`;
  $<HTMLInputElement>('records-goto').max = String((state.data.records ?? 1) - 1);
  $('records-prev').addEventListener('click', () => void loadRecords(state.recordsOffset - PAGE));
  $('records-next').addEventListener('click', () => void loadRecords(state.recordsOffset + PAGE));
  $<HTMLInputElement>('records-goto').addEventListener('change', (e) => {
    const v = Number((e.target as HTMLInputElement).value);
    if (Number.isInteger(v) && v >= 0) void loadRecords(v - (v % PAGE));
  });
  void loadRecords(0);
}

// ---- saved evaluation results ----
function renderResults(list: ResultEntry[]): void {
  const box = $('results');
  if (list.length === 0) {
    box.replaceChildren(h('p', { class: 'muted small' }, 'None. Start the server with --results DIR, a folder holding the output of advexp eval --json / --plot.'));
    return;
  }
  const pct = (v: number | null | undefined): string => (v === null || v === undefined ? '–' : `${(v * 100).toFixed(1)}%`);
  const num = (v: number | undefined): string => (v === undefined ? '–' : v.toFixed(4));
  const rows: HTMLTableRowElement[] = [];
  for (const r of list) {
    if (r.kind !== 'json' || !r.summary) continue;
    for (const m of r.summary.models) {
      rows.push(h('tr', {}, h('td', {}, h('a', { href: `/api/results/${r.id}`, target: '_blank', rel: 'noopener' }, r.name)), h('td', {}, m.model),
        h('td', {}, String(m.n ?? '–')), h('td', {}, pct(m.accuracy)), h('td', {}, `${pct(m.balancedAccuracy)} / ${num(m.auc ?? undefined)}`), h('td', {}, num(m.ara.attack)), h('td', {}, num(m.ara.btr)),
        h('td', {}, pct(m.pgd.linf)), h('td', {}, pct(m.pgd.l2))));
    }
  }
  const parts: HTMLElement[] = [];
  if (rows.length > 0) {
    parts.push(h('table', { class: 'results-table' },
      h('thead', {}, h('tr', {}, ...['file', 'model', 'images', 'accuracy', 'balanced acc. / AUC', 'Attack ARA', 'BTR ARA', 'PGD L∞ 8/255', 'PGD L2 0.5'].map((t) => h('th', {}, t)))),
      h('tbody', {}, ...rows)));
  }
  const plots = list.filter((r) => r.kind === 'png' || r.kind === 'svg');
  if (plots.length > 0) {
    parts.push(h('div', { class: 'plots' }, ...plots.map((r) => {
      const img = h('img', { alt: r.name, loading: 'lazy' });
      img.src = `/api/results/${r.id}`;
      return h('figure', { class: 'plot' }, img, h('figcaption', { class: 'small muted' }, `${r.folder}/${r.name}`));
    })));
  }
  const other = list.filter((r) => r.kind === 'json' && !r.summary);
  if (other.length > 0) parts.push(h('p', { class: 'small muted' }, `Other JSON files (not advexp eval output): ${other.map((r) => r.name).join(', ')}`));
  box.replaceChildren(...parts);
}

// ---- start ----
async function start(): Promise<void> {
  wireInput();
  try {
    const [models, methods, data] = await Promise.all([
      getJson<ModelsResponse>('/api/models'), getJson<MethodsResponse>('/api/methods'), getJson<DataInfo>('/api/data'),
    ]);
    state.models = models.models;
    state.model = models.default;
    state.methods = methods;
    state.data = data;
    state.rho = methods.defaults.rho;
    const rho = $<HTMLInputElement>('rho');
    rho.value = String(state.rho);
    $('rho-value').textContent = fmtRho(state.rho);
    $('drop-hint').textContent = `PNG, JPEG, WebP, AVIF, TIFF or GIF up to ${(methods.limits.maxUploadBytes / 1048576).toFixed(0)} MB; the centre square is resized to the model's 32×32 input.`;
    renderModels();
    renderMaps(null);
    wireRecords();
    document.body.dataset.ready = 'true';
  } catch (e) {
    showError(`cannot reach the advexp server: ${(e as Error).message}`);
  }
  try {
    renderResults((await getJson<ResultsResponse>('/api/results')).results);
  } catch (e) {
    $('results').textContent = `could not list saved results: ${(e as Error).message}`;
  }
}

void start();
