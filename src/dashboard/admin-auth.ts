import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

/** Realm of the operator pages' Basic challenge (RFC 7617) so a browser asks for the token. */
const REALM = 'aicd-orchestrator admin';

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/**
 * The credential a request presents: `Authorization: Bearer <token>` (RFC 6750) or
 * `Authorization: Basic base64(user:token)` (RFC 7617, any user: a browser's login prompt).
 * Null when there is none or it is malformed.
 */
export function presentedToken(authorization: string | undefined): string | null {
  if (!authorization) return null;
  const bearer = /^Bearer +(\S+) *$/i.exec(authorization);
  if (bearer) return bearer[1];
  const basic = /^Basic +([A-Za-z0-9+/=]+) *$/i.exec(authorization);
  if (!basic) return null;
  const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? null : decoded.slice(colon + 1);
}

/**
 * Express middleware guarding operator pages with ADMIN_TOKEN (compared in constant time over
 * SHA-256 digests). Answers 503 ADMIN_DISABLED when no token is configured, 401 with a Basic
 * challenge when the token is missing or wrong. The token is never logged or echoed.
 */
export function adminAuth(adminToken: string): (req: Request, res: Response, next: NextFunction) => void {
  const expected = adminToken ? digest(adminToken) : null;
  return (req, res, next) => {
    if (!expected) {
      res.status(503).json({
        statusCode: 503,
        error: 'Service Unavailable',
        code: 'ADMIN_DISABLED',
        message: 'operator pages are off: set ADMIN_TOKEN (16+ characters) and restart',
      });
      return;
    }
    const token = presentedToken(req.headers.authorization);
    if (token !== null && timingSafeEqual(digest(token), expected)) {
      next();
      return;
    }
    res.setHeader('WWW-Authenticate', `Basic realm="${REALM}", charset="UTF-8"`);
    res.status(401).json({
      statusCode: 401,
      error: 'Unauthorized',
      code: token === null ? 'ADMIN_TOKEN_REQUIRED' : 'INVALID_ADMIN_TOKEN',
      message: token === null ? 'send Authorization: Bearer <ADMIN_TOKEN> (or Basic with the token as password)' : 'the admin token is not valid',
      errors: [{ field: 'Authorization', messages: ['Bearer <ADMIN_TOKEN>, or Basic with ADMIN_TOKEN as the password'] }],
    });
  };
}
