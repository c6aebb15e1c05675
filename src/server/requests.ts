// Reading and checking what a client sends to /api/predict and /api/explain: a multipart form (field `image` for
// an upload, other fields as text) or a JSON object (no upload: a CIFAR `record` instead). Every field is checked
// against a list; anything unknown, repeated, out of range or malformed is a 400 naming the field.
import type { FastifyRequest } from 'fastify';
import { badRequest, HttpError } from './errors.js';
import { methodNames } from './explainers.js';

export interface RawRequest {
  fields: Map<string, string>;
  image: Buffer | null;
}

export interface ReadLimits { maxUploadBytes: number }

/** Longest text field accepted (methods, targets lists are the longest). */
const MAX_FIELD = 1024;

export async function readRequest(req: FastifyRequest, allowed: readonly string[], limits: ReadLimits): Promise<RawRequest> {
  const fields = new Map<string, string>();
  const put = (name: string, value: string): void => {
    if (!allowed.includes(name)) throw badRequest(`unknown field '${name}' (expected ${['image', ...allowed].join(', ')})`);
    if (fields.has(name)) throw badRequest(`field '${name}' is given more than once`);
    fields.set(name, value);
  };
  if (req.isMultipart()) {
    try {
      return { fields, image: await readMultipart(req, allowed, limits, put) };
    } catch (e) {
      throw multipartError(e);
    }
  }
  const body: unknown = req.body;
  if (body === undefined || body === null) return { fields, image: null };
  if (typeof body !== 'object' || Array.isArray(body)) throw badRequest('the request body must be a JSON object or a multipart form');
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
    if (k === 'image') throw badRequest("upload images as multipart/form-data in field 'image'");
    if (typeof v === 'string') put(k, v);
    else if (typeof v === 'number' && Number.isFinite(v)) put(k, String(v));
    else if (Array.isArray(v) && v.every((e) => typeof e === 'string' || typeof e === 'number')) put(k, v.join(','));
    else throw badRequest(`field '${k}' must be a string, a number or a list of them`);
  }
  return { fields, image: null };
}

/** The multipart form: at most one file (field `image`, returned), the other fields as text through `put`. */
async function readMultipart(req: FastifyRequest, allowed: readonly string[], limits: ReadLimits, put: (name: string, value: string) => void): Promise<Buffer | null> {
  let image: Buffer | null = null;
  const parts = req.parts({ limits: { fileSize: limits.maxUploadBytes, files: 1, fields: allowed.length, fieldSize: MAX_FIELD, parts: allowed.length + 1, fieldNameSize: 64, headerPairs: 20 } });
  for await (const part of parts) {
    if (part.type === 'file') {
      if (part.fieldname !== 'image') {
        part.file.resume();
        throw badRequest(`unexpected file field '${part.fieldname}' (upload the image in field 'image')`);
      }
      image = await part.toBuffer();
    } else {
      if (part.fieldname === 'image') throw badRequest("field 'image' must be a file upload");
      if (part.valueTruncated) throw new HttpError(413, `field '${part.fieldname}' is longer than ${MAX_FIELD} bytes`);
      put(part.fieldname, String(part.value));
    }
  }
  return image;
}

/**
 * What the multipart parser (busboy, under @fastify/multipart) throws about the body itself — cut short, no boundary,
 * a boundary too long — is the client's fault: 400 with one line. Our own HttpErrors and the plugin's coded errors
 * (limits, FST_*) pass through to the error handler, which knows them.
 */
export function multipartError(e: unknown): unknown {
  if (e instanceof HttpError || !(e instanceof Error)) return e;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('FST_')) return e;
  const msg = e.message.split('\n')[0]!;
  if (/boundary not found/i.test(msg)) return badRequest('malformed multipart body: the content-type names no boundary (multipart/form-data; boundary=…)');
  if (/unexpected end of multipart data|terminated early/i.test(msg)) return badRequest('malformed multipart body: it ends before its closing boundary (cut short or not multipart)');
  if (/needle/i.test(msg)) return badRequest('malformed multipart body: the boundary is empty or longer than 70 characters');
  if (/multipart|malformed|boundary|header/i.test(msg)) return badRequest(`malformed multipart body: ${msg.slice(0, 120)}`);
  return e;
}

const INT = /^[+]?\d{1,10}$/;
const NUM = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

export function intField(f: Map<string, string>, name: string, dflt: number, min: number, max: number): number {
  const v = f.get(name);
  if (v === undefined) return dflt;
  const s = v.trim();
  const n = Number(s);
  if (!INT.test(s) || n < min || n > max) throw badRequest(`field '${name}': expected an integer from ${min} to ${max}, got '${v.slice(0, 40)}'`);
  return n;
}

export function numField(f: Map<string, string>, name: string, dflt: number, min: number, max: number): number {
  const v = f.get(name);
  if (v === undefined) return dflt;
  const s = v.trim();
  const n = Number(s);
  if (!NUM.test(s) || !(n >= min && n <= max)) throw badRequest(`field '${name}': expected a number from ${min} to ${max}, got '${v.slice(0, 40)}'`);
  return n;
}

/** The explanation methods asked for: a comma-separated list of registered names, no repeats. */
export function methodsField(f: Map<string, string>, dflt: readonly string[]): string[] {
  const v = f.get('methods');
  if (v === undefined) return [...dflt];
  const known = methodNames();
  const items = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw badRequest(`field 'methods': empty list (expected some of ${known.join(', ')})`);
  const out: string[] = [];
  for (const m of items) {
    if (!known.includes(m)) throw badRequest(`field 'methods': unknown method '${m.slice(0, 40)}' (expected ${known.join(', ')})`);
    if (!out.includes(m)) out.push(m);
  }
  return out;
}

/** AE targets: 'all' (default), or a comma-separated list of class indices or names. */
export function targetsField(f: Map<string, string>, classNames: readonly string[]): number[] {
  const v = f.get('targets');
  const all = classNames.map((_, i) => i);
  if (v === undefined || v.trim() === 'all') return all;
  const items = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw badRequest("field 'targets': empty list (expected 'all' or class indices)");
  const out: number[] = [];
  for (const it of items) {
    const k = INT.test(it) ? Number(it) : classNames.indexOf(it);
    if (!(k >= 0 && k < classNames.length)) throw badRequest(`field 'targets': '${it.slice(0, 40)}' is not a class of this model (0–${classNames.length - 1} or a class name)`);
    if (!out.includes(k)) out.push(k);
  }
  return out;
}
