// Small helpers over node:util parseArgs so every subcommand validates the same way.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UserError } from './errors.js';

export type Options = NonNullable<ParseArgsConfig['options']>;

/** Any parsed value: a string or a boolean, a list of them for `multiple` options; undefined when not given. */
export type Value = string | boolean | string[] | boolean[] | undefined;

/**
 * What a parse gives for each declared option, typed by its declaration; flags known only at run time (the
 * explainers' options) are read by name through the index signature.
 */
export type Values<O extends Options> = {
  -readonly [K in keyof O]?: O[K] extends { readonly type: 'boolean' }
    ? (O[K] extends { readonly multiple: true } ? boolean[] : boolean)
    : (O[K] extends { readonly multiple: true } ? string[] : string);
} & { help?: boolean } & { readonly [flag: string]: Value };

export interface Parsed<O extends Options> {
  values: Values<O>;
  positionals: string[];
}

/** A negative number as a user types one: -1, -0.5, -.5, -1e-3. */
const NEGATIVE_NUMBER = /^-(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;

/**
 * node's parser calls `--lr -1` ambiguous (the value starts with a dash); a negative number after a flag that takes
 * a value is that flag's value, so such pairs are joined as `--lr=-1` (up to a `--` terminator).
 */
export function joinNegativeValues(argv: readonly string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') { out.push(...argv.slice(i)); break; }
    const next = argv[i + 1];
    const name = a.startsWith('--') && !a.includes('=') ? a.slice(2) : undefined;
    if (name !== undefined && next !== undefined && NEGATIVE_NUMBER.test(next) && Object.hasOwn(options, name) && options[name]!.type === 'string') {
      out.push(`${a}=${next}`);
      i++;
    } else {
      out.push(a);
    }
  }
  return out;
}

/**
 * Strict parse: unknown flags are one-line user errors. Multiple-valued options come back as arrays. The values are
 * typed from the option table (`const` keeps its literal types), so commands read them without casts. A negative
 * number is accepted as a flag's value (`--lr -1`, as `--lr=-1`); the command's own range check then judges it.
 */
export function parse<const O extends Options>(argv: string[], options: O, allowPositionals = false): Parsed<O> {
  try {
    // node's own result type cannot follow a table built at run time (explainer flags): this is the one cast.
    return parseArgs({ args: joinNegativeValues(argv, options), options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true }) as Parsed<O>;
  } catch (e) {
    throw new UserError((e as Error).message.split('\n')[0]!);
  }
}

export function intArg(v: string | undefined, name: string, dflt: number, min = 0): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UserError(`--${name}: expected an integer ≥ ${min}, got '${v}'`);
  return n;
}

export function numArg(v: string | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UserError(`--${name}: expected a number, got '${v}'`);
  return n;
}

export function requireArg(v: string | undefined, name: string): string {
  if (v === undefined || v === '') throw new UserError(`--${name} is required`);
  return v;
}
