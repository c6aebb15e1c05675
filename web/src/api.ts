// Calls to advexp serve's JSON API. Errors come back as ApiFailure with the server's one-line message.
import type {
  DataInfo, ExplainResponse, MethodsResponse, ModelsResponse, PredictResponse, RecordsResponse, ResultsResponse,
} from '../../src/server/api-types.js';

export type { DataInfo, ExplainResponse, MethodsResponse, ModelsResponse, PredictResponse, RecordsResponse, ResultsResponse };

export class ApiFailure extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

async function parse<T>(res: Response): Promise<T> {
  let body: unknown = null;
  try { body = await res.json(); } catch { body = null; }
  if (!res.ok) {
    const msg = body !== null && typeof body === 'object' && typeof (body as { error?: unknown }).error === 'string'
      ? (body as { error: string }).error : `${res.status} ${res.statusText}`;
    throw new ApiFailure(res.status, msg);
  }
  return body as T;
}

export async function getJson<T>(url: string): Promise<T> {
  return parse<T>(await fetch(url, { headers: { accept: 'application/json' } }));
}

/** What to classify: an uploaded file or a record of the server's CIFAR file. */
export type Source = { kind: 'file'; file: File } | { kind: 'record'; index: number };

export async function postForm<T>(url: string, source: Source, fields: Record<string, string>, signal: AbortSignal): Promise<T> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  if (source.kind === 'file') form.append('image', source.file, source.file.name);
  else form.append('record', String(source.index));
  return parse<T>(await fetch(url, { method: 'POST', body: form, signal }));
}

export const predict = (source: Source, model: string, signal: AbortSignal): Promise<PredictResponse> =>
  postForm<PredictResponse>('/api/predict', source, { model }, signal);

export const explain = (source: Source, model: string, methods: string[], rho: number, signal: AbortSignal): Promise<ExplainResponse> =>
  postForm<ExplainResponse>('/api/explain', source, { model, methods: methods.join(','), rho: String(rho) }, signal);
