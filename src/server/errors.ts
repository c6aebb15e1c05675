// Errors the API answers with: a status code and a one-line message the page can show as is.

export class HttpError extends Error {
  override name = 'HttpError';
  constructor(readonly statusCode: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

export const badRequest = (message: string): HttpError => new HttpError(400, message);
export const notFound = (message: string): HttpError => new HttpError(404, message);

/** The client went away (aborted fetch, closed tab) before its job ran or finished: nothing to answer. */
export class ClientGoneError extends Error {
  override name = 'ClientGoneError';
  constructor() { super('the client closed the request'); }
}
