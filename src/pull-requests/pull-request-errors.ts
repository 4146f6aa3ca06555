/**
 * Errors of the pull request gateways: every failure leaves `open()` as an {@link AgentError}
 * with `stage: 'pr-open'`, a stable `code` and `retryable` (transient) or not (permanent); the
 * caller's abort leaves it as the signal's reason, like every other agent call.
 *
 * No message carries a credential: GitHub's texts never echo one, workspace errors are redacted
 * by the workspaces module, and {@link scrubSecrets} removes anything shaped like a GitHub token
 * or a JWT from every text we build, as a second line of defence.
 */
import { AgentError } from '../agents/agent.port';
import { isWorkspaceError } from '../workspaces';

/** Codes the gateways throw besides the workspaces module's own (`GIT_AUTH_FAILED`, `GIT_FAILED`, …). */
export const PULL_REQUEST_ERROR_CODES = {
  /** The job has no prepared workspace, or its branch differs from the one recorded on the job. Permanent. */
  PR_WORKSPACE_MISMATCH: 'PR_WORKSPACE_MISMATCH',
  /** The worktree's head is not the code stage's `commitSha` (the reviewed commit). Permanent. */
  PR_HEAD_MISMATCH: 'PR_HEAD_MISMATCH',
  /** The branch has no commit beyond its base: nothing to propose. Permanent. */
  PR_NO_COMMITS: 'PR_NO_COMMITS',
  /** `ctx.issue.id` is not a positive issue number, or `ctx.repositoryId` is not `owner/name`. Permanent. */
  PR_INVALID_INPUT: 'PR_INVALID_INPUT',
  /** Preparing or pushing the branch failed with an unexpected (non-workspace) error. Transient. */
  PR_PUSH_FAILED: 'PR_PUSH_FAILED',
  /** GitHub said a pull request exists for the head, but listing found none (it was closed meanwhile). Transient. */
  PR_NOT_FOUND: 'PR_NOT_FOUND',
  /** 401, or 403 without rate-limit headers: the token is refused or lacks permission. Permanent. */
  GITHUB_AUTH_FAILED: 'GITHUB_AUTH_FAILED',
  /** 403/429 with `x-ratelimit-remaining: 0`, `retry-after`, or a secondary rate limit message. Transient, with `retryAfterMs`. */
  GITHUB_RATE_LIMITED: 'GITHUB_RATE_LIMITED',
  /** 5xx, 408, or no HTTP answer (network error). Transient. */
  GITHUB_UNAVAILABLE: 'GITHUB_UNAVAILABLE',
  /** 422 other than "a pull request already exists" (e.g. "No commits between main and …"). Permanent. */
  GITHUB_VALIDATION_FAILED: 'GITHUB_VALIDATION_FAILED',
  /** 404: the repository does not exist or the token cannot see it. Permanent. */
  GITHUB_NOT_FOUND: 'GITHUB_NOT_FOUND',
  /** Any other 4xx answer. Permanent. */
  GITHUB_REQUEST_FAILED: 'GITHUB_REQUEST_FAILED',
} as const;

export type PullRequestErrorCode = keyof typeof PULL_REQUEST_ERROR_CODES;

/** A permanent (`retryable: false`) error of the `pr-open` stage. */
export function permanent(code: PullRequestErrorCode, message: string): AgentError {
  return new AgentError(code, scrubSecrets(message), false, 'pr-open');
}

/** A transient (`retryable: true`) error of the `pr-open` stage; `retryAfterMs` is a minimum wait, ms. */
export function transient(code: PullRequestErrorCode, message: string, retryAfterMs?: number): AgentError {
  return new AgentError(code, scrubSecrets(message), true, 'pr-open', retryAfterMs);
}

/**
 * GitHub token formats (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`; "About
 * authentication to GitHub", docs.github.com, token prefixes) and JWTs (three base64url parts),
 * which an installation token of the newer stateless format also resembles.
 */
const SECRET_SHAPES = [/\b(?:gh[pousr]_|github_pat_)[A-Za-z0-9_.-]{8,}/g, /\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g];

/** `text` with GitHub tokens, JWTs, URL userinfo and the given known secrets replaced by `[redacted]`. */
export function scrubSecrets(text: string, known: readonly string[] = []): string {
  let out = text;
  for (const secret of known) if (secret && secret.length >= 4) out = out.split(secret).join('[redacted]');
  for (const shape of SECRET_SHAPES) out = out.replace(shape, '[redacted]');
  return out.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s'"]+@/gi, '$1[redacted]@');
}

/**
 * The error `open()` throws for `e`: the signal's reason when the call was aborted; an
 * AgentError as is; a WorkspaceError as an AgentError with the same code, message and
 * permanence; `fallback(e)` for anything else.
 */
export function toAgentError(e: unknown, signal: AbortSignal, fallback: (e: unknown) => AgentError): unknown {
  if (signal.aborted) return signal.reason ?? e;
  if (e instanceof AgentError) return e;
  if (isWorkspaceError(e)) return new AgentError(e.code, scrubSecrets(e.message), !e.permanent, 'pr-open');
  return fallback(e);
}
