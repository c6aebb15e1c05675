// A progress bar with rate and ETA on stderr. On a terminal it redraws one line; otherwise
// (logs, CI) it prints a line every few seconds so long jobs still show they are alive.
export interface ProgressOptions { label: string; total: number; unit?: string; stream?: NodeJS.WriteStream; quiet?: boolean }

function fmtTime(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '--:--';
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}` : `${m}:${String(sec).padStart(2, '0')}`;
}

export class Progress {
  readonly #o: Required<Omit<ProgressOptions, 'quiet'>> & { quiet: boolean };
  readonly #start = performance.now();
  #done = 0;
  #lastDraw = 0;
  #extra = '';
  constructor(opts: ProgressOptions) {
    this.#o = { unit: 'it', stream: process.stderr, quiet: false, ...opts };
  }
  get done(): number { return this.#done; }
  /** Advances by n and sets the trailing status text (loss, ψ, …). */
  tick(n = 1, extra?: string): void {
    this.#done += n;
    if (extra !== undefined) this.#extra = extra;
    const now = performance.now();
    const tty = this.#o.stream.isTTY === true;
    if (this.#done >= this.#o.total || now - this.#lastDraw > (tty ? 100 : 5000)) {
      this.#lastDraw = now;
      this.#draw(tty);
    }
  }
  #draw(tty: boolean): void {
    if (this.#o.quiet) return;
    const { total, label, unit, stream } = this.#o;
    const elapsed = (performance.now() - this.#start) / 1000;
    const rate = this.#done / Math.max(elapsed, 1e-9);
    const eta = (total - this.#done) / rate;
    const frac = Math.min(1, this.#done / Math.max(total, 1));
    const width = 24;
    const bar = '█'.repeat(Math.round(frac * width)).padEnd(width, '░');
    const line = `${label} ${bar} ${this.#done}/${total} ${rate.toFixed(1)} ${unit}/s elapsed ${fmtTime(elapsed)} ETA ${fmtTime(eta)}${this.#extra ? ' ' + this.#extra : ''}`;
    if (tty) stream.write(`\r${line}\x1b[K`);
    else stream.write(line + '\n');
  }
  finish(): void {
    if (this.#o.quiet) return;
    if (this.#o.stream.isTTY) { this.#draw(true); this.#o.stream.write('\n'); }
  }
}
