/**
 * Domain errors. Each carries a stable `code`; only the HTTP layer maps them to status codes
 * (see common/http-exception.filter.ts).
 */
export class JobNotFoundError extends Error {
  readonly code = 'JOB_NOT_FOUND';
  constructor(readonly jobId: string) {
    super(`job ${jobId} not found`);
  }
}

/** The job kept changing under us (CAS lost repeatedly). `code` = CONCURRENT_UPDATE. */
export class ConcurrentUpdateError extends Error {
  readonly code = 'CONCURRENT_UPDATE';
  constructor(readonly jobId: string) {
    super(`job ${jobId} changed concurrently; try again`);
  }
}

/** A dependency (Redis, MongoDB) is unreachable. `code` = DEPENDENCY_UNAVAILABLE. */
export class DependencyUnavailableError extends Error {
  readonly code = 'DEPENDENCY_UNAVAILABLE';
  constructor(
    readonly dependency: 'redis' | 'mongodb',
    cause: unknown,
  ) {
    super(`${dependency} is unavailable: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}
