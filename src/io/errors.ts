// How a failed file operation is named in one-line messages: the errno code (ENOENT, EACCES, …) when Node gives
// one, else the first line of the message.
export function errnoOf(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  if (typeof code === 'string') return code;
  return String((e as Error | null)?.message ?? e).split('\n')[0]!;
}
