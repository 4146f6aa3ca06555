/** Small helpers shared by scripts/services.ts and its providers. */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Repository root (this file lives in <root>/scripts/services). */
export const ROOT = path.resolve(__dirname, '..', '..');
/** Runtime directory for state, logs and data (gitignored). */
export const SERVICES_DIR = path.join(ROOT, '.services');

/** Thrown for expected, user-actionable failures (printed without a stack trace). */
export class ServicesError extends Error {}

/** A service failed to start; `exitedEarly` distinguishes a crash (worth a retry) from a timeout. */
export class StartupError extends ServicesError {
  constructor(
    message: string,
    readonly exitedEarly: boolean,
  ) {
    super(message);
  }
}

/** Writes a prefixed diagnostic line to stderr (stdout is reserved for KEY=VALUE output). */
export function log(message: string): void {
  process.stderr.write(`[services] ${message}\n`);
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Finds an executable on PATH (like `command -v`), or returns undefined. */
export function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, cmd);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/**
 * Returns the last `lines` lines of the most recent session in a log file (sessions start with the
 * `--- <time> <cmd>` header written by spawnDetached), or '' if unreadable.
 */
export function tail(file: string | undefined, lines = 15): string {
  if (!file) return '';
  try {
    const text = fs.readFileSync(file, 'utf8');
    const session = text.slice(Math.max(0, text.lastIndexOf('\n--- ') + 1));
    return session.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Resolves a package from the repository's node_modules, or undefined when it is not installed. */
export function resolvePackage(name: string): string | undefined {
  try {
    return require.resolve(name, { paths: [ROOT] });
  } catch {
    return undefined;
  }
}
