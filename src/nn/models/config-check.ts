// Checks shared by the architecture configs that files state as JSON (any value may be of any type): one-line
// errors `<where>: <field>: expected …, got …`, as checkArchitecture in src/io/model-file.ts writes them.

export const posInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;

/** A value for a one-line message: JSON, cut short. */
function shown(v: unknown): string {
  const s = (v === undefined ? 'nothing' : JSON.stringify(v) ?? String(v)).replace(/[\r\n]+/g, ' ');
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/**
 * Checks a normalisation as a file states it: mean and std lists of `channels` finite numbers, stds > 0; absent
 * ones take `dflt`. Shared by the architectures whose normalisation is config (torchvision ResNet, WideResNet).
 */
export function checkNormalisation(c: Record<string, unknown>, channels: number, dflt: { mean: readonly number[]; std: readonly number[] },
  bad: (field: string, expected: string, got: unknown) => never): { mean: number[]; std: number[] } {
  const row = (r: unknown, positive: boolean): r is number[] => Array.isArray(r) && r.length === channels &&
    r.every((v) => typeof v === 'number' && Number.isFinite(v) && (!positive || v > 0));
  const mean = c.mean ?? dflt.mean, std = c.std ?? dflt.std;
  if (!row(mean, false)) bad('mean', `a list of ${channels} finite numbers`, mean);
  if (!row(std, true)) bad('std', `a list of ${channels} finite numbers > 0`, std);
  return { mean: [...(mean as number[])], std: [...(std as number[])] };
}

/** A thrower of `<where>: <field>: expected …, got …`, one line. */
export function configError(where: string): (field: string, expected: string, got: unknown) => never {
  return (field, expected, got) => { throw new Error(`${where}: ${field}: expected ${expected}, got ${shown(got)}`.replace(/[\r\n]+/g, ' ')); };
}

