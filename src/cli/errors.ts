/** A problem with the user's input (a file, an argument): printed as one line, exit code 2. */
export class UserError extends Error {
  override name = 'UserError';
}
