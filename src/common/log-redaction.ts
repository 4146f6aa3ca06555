/** Log fields never written: credentials in headers, API keys, secrets (pino `redact`). */
export const LOG_REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-hub-signature-256"]',
  'req.headers["x-hub-signature"]',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'apiKey',
  '*.apiKey',
  'secret',
  '*.secret',
  'GITHUB_WEBHOOK_SECRET',
  '*.GITHUB_WEBHOOK_SECRET',
];

/**
 * Request headers written to logs. An allowlist, not a denylist: any other header (Authorization,
 * signatures, cookies, a key pasted into X-Tenant-Id or a custom header) is left out.
 */
export const LOGGED_REQUEST_HEADERS = [
  'host',
  'user-agent',
  'content-type',
  'content-length',
  'content-encoding',
  'accept',
  'x-github-event',
  'x-github-delivery',
  'x-request-id',
];

/** Query parameters whose values are never logged (a key sent as `?api_key=`, a token…). */
const SECRET_PARAM = /key|token|secret|auth|pass|sig|cred/i;

/** The URL with the values of secret-looking query parameters replaced by `[redacted]`. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const params = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq);
      return eq >= 0 && SECRET_PARAM.test(name) ? `${name}=[redacted]` : pair;
    });
  return `${url.slice(0, q)}?${params.join('&')}`;
}

interface SerializedRequestLike {
  id?: unknown;
  method?: string;
  url?: string;
  headers?: Record<string, unknown>;
  remoteAddress?: string;
}

/** pino-http `serializers.req`: method, URL (secret query values redacted) and allowlisted headers only. */
export function serializeRequest(req: SerializedRequestLike): Record<string, unknown> {
  const headers: Record<string, unknown> = {};
  for (const name of LOGGED_REQUEST_HEADERS) {
    if (req.headers?.[name] !== undefined) headers[name] = req.headers[name];
  }
  return { id: req.id, method: req.method, url: redactUrl(req.url ?? ''), headers, remoteAddress: req.remoteAddress };
}
