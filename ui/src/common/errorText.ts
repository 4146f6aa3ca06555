import { ApiError } from '../api/client';

/** A failed call, in words: `404 JOB_NOT_FOUND: …`, or the network problem. */
export function errorText(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 0) return error.message;
    const code = error.body.code ? ` ${error.body.code}` : '';
    return `${error.status}${code}: ${error.message}`;
  }
  return error instanceof Error ? error.message : String(error);
}
