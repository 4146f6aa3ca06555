/**
 * From an Octokit request failure to an {@link AgentError} of the `pr-open` stage.
 *
 * Octokit (`@octokit/request` 10, `fetch-wrapper.js`) rejects with a `RequestError`
 * (`name: 'HttpError'`): `status` is the HTTP status, `response: { status, headers, data }` the
 * answer (headers lower-cased); a network failure has `status: 500` and no `response`. Several
 * copies of `@octokit/request-error` are installed, so errors are recognised by shape, not class.
 *
 * Rate limits ("Rate limits for the REST API" and "Troubleshooting the REST API",
 * docs.github.com/en/rest/using-the-rest-api): exceeding one answers 403 or 429; with
 * `retry-after` wait that many seconds; with `x-ratelimit-remaining: 0` wait until
 * `x-ratelimit-reset` (UTC epoch seconds); otherwise (a secondary limit) at least one minute.
 *
 * Validation errors (422, `components.schemas["validation-error"]` of GitHub's OpenAPI description
 * as typed by @octokit/openapi-types): `{ message: "Validation Failed", errors?: [{ resource,
 * code, field?, message? }], documentation_url }`.
 */
import type { AgentError } from '../agents/agent.port';
import { permanent, transient } from './pull-request-errors';

/** The parts of an Octokit `RequestError` read here. */
export interface HttpFailure {
  status: number;
  message?: string;
  response?: { headers?: Record<string, string | number | undefined>; data?: unknown };
}

/** True when `e` looks like an Octokit `RequestError` (any installed version). */
export function isHttpFailure(e: unknown): e is HttpFailure {
  return typeof e === 'object' && e !== null && typeof (e as { status?: unknown }).status === 'number' && (e as { name?: unknown }).name === 'HttpError';
}

/** One entry of a validation error's `errors` array. */
export interface ValidationDetail {
  resource?: string;
  code?: string;
  field?: string;
  message?: string;
}

/** GitHub's `message` and the `errors[].message` texts of a failure's body, joined (max 500 characters). */
export function githubMessage(f: HttpFailure): string {
  const data = f.response?.data;
  if (data && typeof data === 'object') {
    const body = data as { message?: unknown; errors?: unknown };
    const details = validationDetails(f)
      .map((d) => d.message ?? [d.resource, d.field, d.code].filter(Boolean).join(' '))
      .filter(Boolean);
    const text = [typeof body.message === 'string' ? body.message : '', details.join('; ')].filter(Boolean).join(': ');
    if (text) return text.slice(0, 500);
  }
  if (typeof data === 'string' && data.trim()) return data.trim().slice(0, 500);
  return (f.message ?? 'no message').slice(0, 500);
}

/** The `errors` entries of a 422 body (objects only; GitHub sometimes sends strings there). */
export function validationDetails(f: HttpFailure): ValidationDetail[] {
  const errors = (f.response?.data as { errors?: unknown } | undefined)?.errors;
  if (!Array.isArray(errors)) return [];
  return errors.map((e) => (typeof e === 'string' ? { message: e } : typeof e === 'object' && e !== null ? (e as ValidationDetail) : {}));
}

/**
 * True for GitHub's answer to a second pull request from the same head into the same base:
 * 422 with an error `{ resource: "PullRequest", code: "custom", message: "A pull request already
 * exists for <owner>:<branch>." }` (seen in vsoch/pull-request-action#86 and
 * Financial-Times/nori#65; not in GitHub's reference docs, so matched on the message prefix).
 */
export function isPullRequestAlreadyExists(f: HttpFailure): boolean {
  return f.status === 422 && validationDetails(f).some((d) => /^a pull request already exists\b/i.test(d.message ?? ''));
}

const DEFAULT_RATE_LIMIT_WAIT_MS = 60_000;

/**
 * How long to wait after a rate-limited answer, ms, or null when `f` is no rate limit (see the
 * module comment for the rules). `now` is epoch ms.
 */
export function rateLimitWaitMs(f: HttpFailure, now: number): number | null {
  if (f.status !== 403 && f.status !== 429) return null;
  const headers = f.response?.headers ?? {};
  const retryAfter = Number(headers['retry-after']);
  if (headers['retry-after'] !== undefined && Number.isFinite(retryAfter) && retryAfter >= 0) return Math.max(1000, retryAfter * 1000);
  if (String(headers['x-ratelimit-remaining'] ?? '') === '0') {
    const reset = Number(headers['x-ratelimit-reset']);
    return Number.isFinite(reset) ? Math.max(1000, reset * 1000 - now) : DEFAULT_RATE_LIMIT_WAIT_MS;
  }
  if (f.status === 429 || /rate limit/i.test(githubMessage(f))) return DEFAULT_RATE_LIMIT_WAIT_MS;
  return null;
}

/**
 * The AgentError for a failed GitHub call. `action` names it in the message (e.g. "creating the
 * pull request"). Codes: `GITHUB_RATE_LIMITED` (transient, `retryAfterMs`), `GITHUB_AUTH_FAILED`
 * (401/403, permanent), `GITHUB_NOT_FOUND` (404, permanent), `GITHUB_VALIDATION_FAILED` (422,
 * permanent), `GITHUB_UNAVAILABLE` (5xx, 408, network, non-HTTP errors: transient),
 * `GITHUB_REQUEST_FAILED` (other 4xx, permanent).
 */
export function classifyGithubError(e: unknown, action: string, now: number = Date.now()): AgentError {
  if (!isHttpFailure(e)) {
    const why = e instanceof Error ? e.message : String(e);
    return transient('GITHUB_UNAVAILABLE', `GitHub unreachable while ${action}: ${why}`);
  }
  const msg = githubMessage(e);
  const wait = rateLimitWaitMs(e, now);
  if (wait !== null) return transient('GITHUB_RATE_LIMITED', `GitHub rate limit while ${action} (${e.status}): ${msg}; retry in ${Math.ceil(wait / 1000)} s`, wait);
  if (!e.response) return transient('GITHUB_UNAVAILABLE', `GitHub unreachable while ${action}: ${msg}`);
  if (e.status === 401 || e.status === 403) return permanent('GITHUB_AUTH_FAILED', `GitHub refused the credentials while ${action} (${e.status}): ${msg}`);
  if (e.status === 404) return permanent('GITHUB_NOT_FOUND', `GitHub found no such repository or resource while ${action} (404): ${msg}`);
  if (e.status === 422) return permanent('GITHUB_VALIDATION_FAILED', `GitHub rejected ${action} (422): ${msg}`);
  if (e.status >= 500 || e.status === 408) return transient('GITHUB_UNAVAILABLE', `GitHub failed while ${action} (${e.status}): ${msg}`);
  return permanent('GITHUB_REQUEST_FAILED', `GitHub answered ${e.status} while ${action}: ${msg}`);
}
