/** The logger the gateways and their Octokit client write to. */

/** Minimal logger (a Nest `Logger` or pino child adapts to it). Never given a secret. */
export interface GatewayLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

/** Discards everything (the default). */
export const SILENT_LOGGER: GatewayLogger = { debug: () => undefined, warn: () => undefined };
