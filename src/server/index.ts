// The explorer's server: `createServer` for programs and tests; `advexp serve` (src/cli/serve.ts) for people.
export { createServer, isLoopback, DEFAULT_MAX_UPLOAD, LIMITS, LOOPBACK_HOSTS, type ServerOptions, type AdvexpServer } from './app.js';
export { JobQueue, type JobContext } from './queue.js';
export { HttpError, ClientGoneError } from './errors.js';
export type * from './api-types.js';
