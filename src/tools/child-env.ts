/**
 * The environment a tool's process gets: a minimal allowlist taken from the worker's environment,
 * the variables the request names, and the process marker. Nothing else of the worker's
 * environment (database URLs, other tools' API keys, …) reaches the child.
 */
import { randomUUID } from 'node:crypto';

/** Name of the variable that marks every process of one run (inherited by its descendants). */
export const PROCESS_MARKER_VAR = 'AICD_PROCESS_MARKER';

/**
 * Variables copied from the worker's environment into every child (when set there). `TERM` is not
 * copied: it is forced to `dumb` so no tool paints a terminal UI into a pipe.
 */
export const ENV_ALLOWLIST: readonly string[] = [
  'PATH',
  'HOME',
  'LANG',
  'LC_ALL',
  'LC_CTYPE',
  'TZ',
  'TMPDIR',
  'USER',
  'LOGNAME',
];

/** A variable whose name matches this holds a secret: its value is redacted from the tool's output. */
export const SECRET_NAME_PATTERN = /KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL/i;

/** Names that match {@link SECRET_NAME_PATTERN} but hold no secret (the orchestrator's own markers). */
export const NOT_SECRET_NAMES: readonly string[] = ['AICD_IDEMPOTENCY_KEY', 'AICD_PROCESS_MARKER'];

/** Whether a variable of this name holds a secret ({@link SECRET_NAME_PATTERN}, minus {@link NOT_SECRET_NAMES}). */
export function isSecretName(name: string): boolean {
  return SECRET_NAME_PATTERN.test(name) && !NOT_SECRET_NAMES.includes(name);
}

/** A fresh, unguessable marker for one run: `aicd-<uuid>`. */
export function newProcessMarker(): string {
  return `aicd-${randomUUID()}`;
}

/**
 * Builds a child's environment: the {@link ENV_ALLOWLIST} entries of `workerEnv` that are set,
 * `TERM=dumb`, then `requestEnv` (which wins over the allowlist), then
 * `AICD_PROCESS_MARKER=<marker>` (which nothing overrides). Pass it with execa's
 * `extendEnv: false`, or the worker's whole environment is merged back in.
 */
export function buildChildEnv(
  workerEnv: NodeJS.ProcessEnv,
  requestEnv: Record<string, string> | undefined,
  marker: string,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ENV_ALLOWLIST) {
    const value = workerEnv[name];
    if (value !== undefined) env[name] = value;
  }
  env.TERM = 'dumb';
  for (const [name, value] of Object.entries(requestEnv ?? {})) {
    if (value !== undefined && value !== null) env[name] = String(value);
  }
  env[PROCESS_MARKER_VAR] = marker;
  return env;
}

/** The values of the entries of `env` whose name looks secret ({@link isSecretName}); empty values skipped. */
export function secretValues(env: Record<string, string> | undefined): string[] {
  return Object.entries(env ?? {})
    .filter(([name, value]) => isSecretName(name) && typeof value === 'string' && value.length > 0)
    .map(([, value]) => value);
}

/**
 * Picks the variables a tool needs (e.g. a CLI profile's `envNames`) from the worker's environment:
 * only the names listed, only when set. The result is what goes into `ToolRequest.env`.
 */
export function pickEnv(names: readonly string[], source: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of names) {
    const value = source[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}
