import type { ErrorBody } from './types';

/** A refused or failed API call: `status` 0 when the server could not be reached. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorBody,
  ) {
    super(messageOf(body) || (status === 0 ? 'The server could not be reached' : `HTTP ${status}`));
    this.name = 'ApiError';
  }
}

/** The server's message of an error body (`message` may be a list). */
export function messageOf(body: ErrorBody | undefined): string {
  if (!body) return '';
  const m = body.message;
  return Array.isArray(m) ? m.join('; ') : (m ?? '');
}

export type Query = Record<string, string | number | undefined | null>;

export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
  const s = qs.toString();
  return s ? `${path}?${s}` : path;
}

interface ApiConfig {
  /** The signed-in key, or null. */
  key: () => string | null;
  /** Called on a 401 from any call made with the signed-in key. */
  unauthorized: (message: string) => void;
}

let config: ApiConfig = { key: () => null, unauthorized: () => undefined };

/** Wires the client to the session (AuthProvider). */
export function configureApi(c: ApiConfig): void {
  config = c;
}

export function authHeaders(key = config.key()): Record<string, string> {
  return key ? { Authorization: `Bearer ${key}` } : {};
}

/** Reports a 401 to the session: the user goes back to sign-in with the server's message. */
export function reportUnauthorized(message: string): void {
  config.unauthorized(message);
}

export interface RequestOptions {
  method?: 'GET' | 'POST';
  query?: Query;
  body?: unknown;
  signal?: AbortSignal;
  /** Use this key instead of the session's, and do not end the session on a 401 (sign-in). */
  key?: string;
}

async function send(path: string, options: RequestOptions, accept: string): Promise<Response> {
  const headers: Record<string, string> = { Accept: accept, ...authHeaders(options.key ?? config.key()) };
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(withQuery(path, options.query), {
      method: options.method ?? 'GET',
      headers,
      body: options.body === undefined ? null : JSON.stringify(options.body),
      signal: options.signal ?? null,
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, { message: `The server could not be reached (${e instanceof Error ? e.message : String(e)})` });
  }
  if (!res.ok) {
    const body = await errorBody(res);
    if (res.status === 401 && options.key === undefined) reportUnauthorized(messageOf(body));
    throw new ApiError(res.status, body);
  }
  return res;
}

async function errorBody(res: Response): Promise<ErrorBody> {
  const text = await res.text().catch(() => '');
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object') return parsed as ErrorBody;
  } catch {
    // not JSON
  }
  return { statusCode: res.status, message: text.slice(0, 500) || res.statusText };
}

/** A JSON call. @throws ApiError */
export async function apiJson<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const res = await send(path, options, 'application/json');
  return (await res.json()) as T;
}

/** A text call (statecharts, artifacts). @throws ApiError */
export async function apiText(path: string, options: RequestOptions = {}): Promise<{ text: string; contentType: string }> {
  const res = await send(path, options, 'text/plain, */*');
  return { text: await res.text(), contentType: res.headers.get('Content-Type') ?? '' };
}

/** A binary call (artifact download). @throws ApiError */
export async function apiBlob(path: string, options: RequestOptions = {}): Promise<Blob> {
  const res = await send(path, options, '*/*');
  return res.blob();
}
