// The explainers on offer. Each method's file registers itself when it is imported (index.ts imports them all):
// its name, how people call it, the options a user may set with their defaults, how to build it, and how its result
// reads. The CLI (flags, help, panels, JSON) and the server (method list, labels, map details) read this registry,
// so adding an explainer is adding one file, plus its import line in index.ts.
import type { Explainer, MethodExplanation } from './types.js';

/** One option a user may set, as the commands offer it (`--flag VALUE`). */
export type OptionSpec<K extends string = string> = {
  /** The option's name in the explainer's options object. */
  readonly name: K;
  /** Command-line flag, without `--`; unique across the registry, since one command offers every method's. */
  readonly flag: string;
  /** Placeholder in the help text (`--rho R`). */
  readonly metavar: string;
  readonly help: string;
} & (
  | { readonly kind: 'int'; readonly default: number; readonly min: number }
  /** `above`: the value must be greater than this. */
  | { readonly kind: 'number'; readonly default: number; readonly above?: number }
  /** No default: the explainer decides (Grad-CAM's layer comes from the model). */
  | { readonly kind: 'text'; readonly default?: string });

/** The chosen regions of one explanation (LIME's top superpixels): a label per pixel and the labels kept. */
export interface Regions { segments: ArrayLike<number>; chosen: ArrayLike<number> }

/** Values a JSON report can hold: numbers (rounded there), strings, lists of numbers. */
export type ReportValue = number | string | ArrayLike<number>;

export interface ExplainerDefinition<M extends string = string, O extends object = object, D = unknown> {
  readonly name: M;
  /** As people read it ('Grad-CAM', 'Integrated gradients'): the web page's captions. */
  readonly label: string;
  /** A few characters, for panel captions ('IG'). */
  readonly short: string;
  /** The options a user may set, in the order reports list them; their defaults are the explainer's own. */
  readonly options: readonly OptionSpec[];
  /** Maps are signed (LIME's weights, IG): shown blue–white–red around 0 instead of a 0-to-max ramp. */
  readonly signed: boolean;
  /** The map is coarse enough to be read over the image (Grad-CAM); fine maps are shown on their own. */
  readonly overlay: boolean;
  create(options: O): Explainer<M, D>;
  /** One line about the explanation of pair i (the web page shows it under the map). */
  summary?(r: MethodExplanation<M, D>, i: number): string;
  /** The method's own numbers for pair i, as JSON reports list them (snake_case keys). */
  record?(r: MethodExplanation<M, D>, i: number): Readonly<Record<string, ReportValue>>;
  /** For methods whose explanation is a few image regions: which, for pair i (pictures show those, not a heat map). */
  regions?(r: MethodExplanation<M, D>, i: number): Regions;
}

const registry = new Map<string, ExplainerDefinition>();

/**
 * Adds a method. Its name and its flags must be new: one command offers every method's flags side by side. Option
 * names are checked against the options type O.
 */
export function registerExplainer<M extends string, O extends object, D>(
  def: ExplainerDefinition<M, O, D> & { readonly options: readonly OptionSpec<keyof O & string>[] }): void {
  if (!/^[a-z][a-z0-9-]*$/.test(def.name)) throw new Error(`explainer name '${def.name}': lower-case letters, digits and '-' only`);
  if (registry.has(def.name)) throw new Error(`explainer '${def.name}' is registered twice`);
  for (const o of def.options) {
    for (const other of registry.values()) {
      if (other.options.some((p) => p.flag === o.flag)) throw new Error(`explainer '${def.name}': flag --${o.flag} is already ${other.name}'s`);
    }
    if (def.options.filter((p) => p.flag === o.flag).length > 1) throw new Error(`explainer '${def.name}': flag --${o.flag} given twice`);
  }
  registry.set(def.name, def);
}

/** Every registered method, in registration order. */
export function explainers(): ExplainerDefinition[] { return [...registry.values()]; }

export function explainerNames(): string[] { return [...registry.keys()]; }

/** The method called `name`; an error listing the registered ones when there is none. */
export function explainerFor(name: string): ExplainerDefinition {
  const def = registry.get(name);
  if (def === undefined) throw new Error(`unknown explanation method '${name}' (registered: ${explainerNames().join(', ')})`);
  return def;
}
