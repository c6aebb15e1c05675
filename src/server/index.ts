// The explorer's server: `createServer` for programs and tests; `advexp serve` (src/cli/serve.ts) for people.
export { createServer, type AdvexpServer } from './app.js';
export { DEFAULT_MAX_UPLOAD, LIMITS, type ServerOptions } from './context.js';
export { isLoopback, LOOPBACK_HOSTS } from './guards.js';
export { JobQueue, type JobContext } from './queue.js';
export { HttpError, ClientGoneError } from './errors.js';
export type * from './api-types.js';
