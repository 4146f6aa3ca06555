import { createHash, randomBytes } from 'node:crypto';

/** Every API key starts with this, so a leaked key is recognisable (e.g. by secret scanners). */
export const API_KEY_PREFIX = 'aicd_';
/** `aicd_` + 43 base64url characters (32 random bytes). */
export const API_KEY_PATTERN = /^aicd_[A-Za-z0-9_-]{43}$/;

/** A new API key: 32 bytes from the CSPRNG, base64url, with the `aicd_` prefix. Shown once, never stored. */
export function generateApiKey(): string {
  return API_KEY_PREFIX + randomBytes(32).toString('base64url');
}

/**
 * What is stored and looked up: the SHA-256 of the key, hex. A fast hash is enough here (and
 * bcrypt/scrypt/argon2 would be wrong): the key is a 256-bit random secret, not a password, so
 * there is no dictionary to try and brute force of the hash is infeasible at any speed; a fast
 * deterministic hash lets the key be found by an indexed equality lookup (a salted slow hash
 * would need a scan and a ~100 ms verification per request, itself a denial-of-service lever).
 */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** A short, non-secret label of a key for listings and logs: its prefix and first 4 random characters. */
export function apiKeyHint(key: string): string {
  return `${key.slice(0, API_KEY_PREFIX.length + 4)}…`;
}
