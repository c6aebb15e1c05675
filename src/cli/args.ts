// Small helpers over node:util parseArgs so every subcommand validates the same way.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UserError } from './errors.js';

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  values: Record<string, string | undefined> & { help?: boolean } & Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** Strict parse: unknown flags are one-line user errors. Multiple-valued options come back as arrays. */
export function parse(argv: string[], options: Options, allowPositionals = false): Parsed {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true }) as Parsed;
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
