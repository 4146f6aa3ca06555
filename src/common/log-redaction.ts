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
