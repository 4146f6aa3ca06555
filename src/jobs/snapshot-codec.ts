/**
 * Makes any JSON value storable in both MongoDB and FerretDB v1, which reject object keys that
 * contain `.` or start with `$` (XState snapshots can hold such keys, e.g. auto-generated invoke
 * ids like `0.job.PLANNING`). Keys are percent-escaped: `%` → `%25`, `.` → `%2E`, a leading `$`
 * → `%24`. Values are untouched. `decodeKeys(encodeKeys(x))` deep-equals `x`.
 */
export function encodeKeys<T>(value: T): unknown {
  return mapKeys(value, (k) => k.replace(/%/g, '%25').replace(/\./g, '%2E').replace(/^\$/, '%24'));
}

/** Inverse of {@link encodeKeys}. */
export function decodeKeys<T = unknown>(value: unknown): T {
  return mapKeys(value, (k) => k.replace(/%24/g, (m, i: number) => (i === 0 ? '$' : m)).replace(/%2E/g, '.').replace(/%25/g, '%')) as T;
}

function mapKeys(value: unknown, f: (key: string) => string): unknown {
  if (Array.isArray(value)) return value.map((v) => mapKeys(v, f));
  if (value === null || typeof value !== 'object' || value instanceof Date) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === undefined) continue;
    out[f(k)] = mapKeys(v, f);
  }
  return out;
}
