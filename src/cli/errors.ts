/** A problem with the user's input (a file, an argument): printed as one line, exit code 2. */
export class UserError extends Error {
  override name = 'UserError';
}

/** Runs fn, turning the library's one-line Errors about the user's input (a file, a value) into UserErrors. */
export function asUserError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(String((e as Error).message).split('\n')[0]!);
  }
}
