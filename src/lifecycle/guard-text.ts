/** Guard naming shared by the runtime (history entries) and the diagram exporters. Pure. */

/**
 * A guard as text: `name`, or `name(a, 2)` for parameterised guards. With `quoted`, string
 * parameters are quoted (`name('a', 2)`), a call expression as SCXML `cond` wants it.
 */
export function guardText(guard: unknown, quoted = false): string | null {
  if (guard === undefined || guard === null) return null;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') return guard.name || 'anonymous';
  const g = guard as { type?: unknown; params?: unknown };
  if (typeof g.type !== 'string') return 'guard';
  if (g.params && typeof g.params === 'object' && !Array.isArray(g.params)) {
    const values = Object.values(g.params as Record<string, unknown>).map((v) =>
      typeof v !== 'string' ? JSON.stringify(v) : quoted ? `'${v.replace(/'/g, "\\'")}'` : v,
    );
    return values.length ? `${g.type}(${values.join(', ')})` : g.type;
  }
  return g.type;
}

/** {@link guardText} with quoted string parameters. */
export const guardExpression = (guard: unknown): string | null => guardText(guard, true);
