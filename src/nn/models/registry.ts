// The built-in architectures, by name. A model file records `arch` and its config; everything that builds a network
// (loadModel, the trainer, checkpoints) goes through here, so no consumer knows which networks exist.
import type { Module } from '../module.js';

/** Tensor names and shapes, as a file states them (checked before anything is built). */
export type TensorShapes = ReadonlyMap<string, { readonly shape: readonly number[] }>;

/** What every model takes: images [B, C, H, W] in [0, 1]; its first operation is (x − mean)/std per channel. */
export interface InputSpec {
  channels: number;
  mean: number[];
  std: number[];
}

export interface Architecture<C extends object = object> {
  /** The name `--arch` and model files use. */
  readonly name: string;
  /** One line for `advexp train --help`. */
  readonly summary: string;
  /** The input size of files that do not state theirs (`input_size` metadata); null: images keep their own size. */
  readonly defaultInputSize: readonly [number, number] | null;
  /**
   * Checks a config as a file or the flags state it (JSON: any field may be of any type), fills defaults, and
   * returns it; throws `<where>: <field>: expected …, got …`, one line. Unknown fields are ignored.
   */
  check(raw: Record<string, unknown>, where: string): C;
  build(config: C): Module;
  /** The state-dict entries (name, shape) the config implies, in stateDict order, lazily (a file is compared one by one). */
  stateShapes(config: C): Iterable<[string, number[]]>;
  /** The config read off a PyTorch-style state dict's names and shapes, or null when they are not this layout. */
  infer(tensors: TensorShapes, values: (name: string) => ArrayLike<number> | null): Record<string, unknown> | null;
  /** "PreActResNet-20 16/32/64 half-huber, 10 classes, 3 channels". */
  describe(config: C): string;
  /** The input a config takes (channels and normalisation). */
  input(config: C): InputSpec;
  /** The config for `advexp train --arch`: data's classes and input, the flags' depth/widths/activation where they apply. */
  forTraining(o: TrainingShape, preset?: Readonly<Record<string, unknown>>): C;
  /** Other names `--arch` accepts, each with the config fields it fixes (`resnet50` → depth 50). */
  readonly aliases?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

/** What training decides about a new network: the data's classes and input, and the architecture flags. */
export interface TrainingShape {
  classes: number;
  input: InputSpec;
  depth: number;
  widths: number[];
  activation: 'relu' | 'half-huber';
}

const archs = new Map<string, Architecture>();

/** Adds an architecture (each model file registers itself on import; see ./index). */
export function registerArchitecture<C extends object>(a: Architecture<C>): void {
  if (archs.has(a.name)) throw new Error(`architecture '${a.name}' is registered twice`);
  archs.set(a.name, a as unknown as Architecture);
}

export function architectures(): Architecture[] { return [...archs.values()]; }

/** Every name `--arch` takes: the architectures' own and their aliases. */
export function architectureNames(): string[] {
  return [...archs.values()].flatMap((a) => [a.name, ...Object.keys(a.aliases ?? {})]);
}

/** The architecture of this name (or alias, with the config fields it fixes); an error listing the known ones otherwise. */
export function architecture(name: string): Architecture {
  return resolveArchitecture(name).arch;
}

export function resolveArchitecture(name: string): { arch: Architecture; preset: Readonly<Record<string, unknown>> } {
  const a = archs.get(name);
  if (a !== undefined) return { arch: a, preset: {} };
  for (const b of archs.values()) {
    const preset = b.aliases?.[name];
    if (preset !== undefined) return { arch: b, preset };
  }
  throw new Error(`unknown architecture '${name}' (known: ${architectureNames().join(', ')})`);
}

// ---- config checking helpers shared by the architectures ----

/** A value for a one-line message: JSON, cut short. */
export function shown(v: unknown): string {
  const s = v === undefined ? 'nothing' : JSON.stringify(v) ?? String(v);
  return (s.length > 60 ? `${s.slice(0, 57)}...` : s).replace(/[\r\n]+/g, ' ');
}

export const posInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;

/** Throws the one-line config error every architecture uses. */
export function badField(where: string, field: string, expected: string, got: unknown): never {
  throw new Error(`${where}: ${field}: expected ${expected}, got ${shown(got)}`.replace(/[\r\n]+/g, ' '));
}

/** mean/std for `channels` channels: finite numbers, the stds > 0; `dflt` where the config leaves them out. */
export function checkNormalisation(c: Record<string, unknown>, where: string, channels: number, dflt: { mean: number[]; std: number[] } | null): { mean: number[]; std: number[] } {
  const row = (r: unknown, positive: boolean): r is number[] => Array.isArray(r) && r.length === channels &&
    r.every((v) => typeof v === 'number' && Number.isFinite(v) && (!positive || v > 0));
  const mean = c.mean ?? dflt?.mean, std = c.std ?? dflt?.std;
  if (!row(mean, false)) badField(where, 'mean', `${channels} finite number(s), one a channel`, mean);
  if (!row(std, true)) badField(where, 'std', `${channels} positive number(s), one a channel`, std);
  return { mean: [...mean], std: [...std] };
}
