/**
 * Names derived from a job: its branch and the worktree directory name. Pure.
 *
 * Branch names must be valid ref names (git-check-ref-format(1),
 * https://git-scm.com/docs/git-check-ref-format): no `..`, no control characters, none of
 * ` ~^:?*[\`, no component starting with `.` or ending with `.lock`, no `@{`. We build them only
 * from `[A-Za-z0-9_-]`, which satisfies every rule by construction; a test checks samples with
 * the real `git check-ref-format --branch`.
 */
import { WorkspaceError } from './workspace.errors';

/** Prefix of every job branch. */
export const BRANCH_PREFIX = 'aicd/';

/** A job id usable as a directory name and in a branch: 1–128 of `[A-Za-z0-9_.-]`, starting alphanumeric. */
const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** True when `jobId` is a valid job id (see {@link assertJobId}). */
export function isValidJobId(jobId: string): boolean {
  return JOB_ID.test(jobId);
}

/**
 * Returns `jobId` when it is 1–128 characters of `[A-Za-z0-9_.-]` starting with a letter or digit
 * (UUIDs qualify), so it is safe as the worktree's directory name.
 * @throws WorkspaceError `INVALID_ARGUMENT` otherwise.
 */
export function assertJobId(jobId: string): string {
  if (typeof jobId !== 'string' || !JOB_ID.test(jobId)) {
    throw new WorkspaceError('INVALID_ARGUMENT', `job id must match ${JOB_ID.source}, got ${JSON.stringify(String(jobId).slice(0, 200))}`);
  }
  return jobId;
}

/**
 * The job's branch: `aicd/<issue number>-<first 8 characters of the job id>`, every character
 * outside `[A-Za-z0-9_-]` replaced by `-`. Deterministic, so every worker computes the same name.
 * Two jobs on one issue whose ids share 8 characters would collide (p ≈ 2⁻³² for UUIDs); git
 * refuses to check one branch out twice, surfaced as `BRANCH_CONFLICT`.
 *
 * @throws WorkspaceError `INVALID_ARGUMENT` for an issue number that is not a positive safe integer
 *   or an invalid job id.
 */
export function branchName(issueNumber: number, jobId: string): string {
  if (!Number.isSafeInteger(issueNumber) || issueNumber <= 0) {
    throw new WorkspaceError('INVALID_ARGUMENT', `issue number must be a positive integer, got ${String(issueNumber)}`);
  }
  const short = assertJobId(jobId).slice(0, 8).replace(/[^A-Za-z0-9_-]/g, '-');
  return `${BRANCH_PREFIX}${issueNumber}-${short}`;
}
