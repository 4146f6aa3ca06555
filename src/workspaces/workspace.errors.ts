/**
 * Errors of the workspaces module. Each carries a stable `code` (machine-readable, stored on the
 * job by the caller) and `permanent`: true when repeating the same call on the same state cannot
 * succeed (bad input, a refused change, a limit), false when a retry may help (network, a lock
 * held too long, a timeout). Messages never contain a credential: every text that comes from git
 * is redacted first (see `redact.ts`).
 */

/** Every code a {@link WorkspaceError} can carry, with its default permanence. */
export const WORKSPACE_ERROR_CODES = {
  /** A caller argument is malformed (job id, issue number, identity, date, commit id, limit). */
  INVALID_ARGUMENT: true,
  /** The repository URL is not https://, ssh (`user@host:path`, `ssh://`), `file://` or an absolute path. */
  INVALID_REMOTE_URL: true,
  /** The repository URL carries credentials (`https://user:token@host/…`); tokens go through askpass only. */
  REMOTE_URL_HAS_CREDENTIALS: true,
  /** A git command exited non-zero; the message names the command and ends with its redacted stderr tail. */
  GIT_FAILED: false,
  /** A network git command (fetch, ls-remote, push) was refused authentication. A rotated token may fix it. */
  GIT_AUTH_FAILED: false,
  /** A git command ran longer than its timeout and was killed (with its process group). */
  GIT_TIMEOUT: false,
  /** The caller's AbortSignal fired; the git process group was killed. */
  ABORTED: false,
  /** The mirror lock could not be taken in time (another process holds it). */
  LOCK_TIMEOUT: false,
  /** The remote's HEAD names no branch (empty repository) and no base branch was configured. */
  REMOTE_HEAD_UNKNOWN: true,
  /** The base branch does not exist on the remote. */
  BASE_BRANCH_NOT_FOUND: true,
  /** A commit (base commit, start commit, reset target) is neither in the mirror nor fetchable. */
  COMMIT_NOT_FOUND: true,
  /** The job's branch is checked out by another worktree (two jobs whose branch names collide). */
  BRANCH_CONFLICT: true,
  /** There is no worktree for this job on this host: call `ensure` first. */
  WORKSPACE_NOT_FOUND: false,
  /** A restore diff does not apply on its parent commit. */
  RESTORE_FAILED: true,
  /** A restore diff applied but the commit it made has another sha than the recorded one. */
  RESTORE_MISMATCH: true,
  /** A changed path, or a committed symlink's target, resolves outside the worktree or into `.git`. */
  PATH_OUTSIDE_WORKSPACE: true,
  /** A change adds a nested git repository (a gitlink); its content would not be in the commit. */
  EMBEDDED_REPOSITORY: true,
  /** The worktree has no change against the start commit. */
  NO_CHANGES: true,
  /** The diff against the start commit is larger than `maxDiffBytes`. */
  DIFF_TOO_LARGE: true,
  /** The worktree's apparent size is larger than the limit. */
  WORKSPACE_TOO_LARGE: true,
} as const;

export type WorkspaceErrorCode = keyof typeof WORKSPACE_ERROR_CODES;

/** A workspace operation failed. `details` holds non-secret facts (sizes, limits, paths, command). */
export class WorkspaceError extends Error {
  readonly permanent: boolean;

  constructor(
    readonly code: WorkspaceErrorCode,
    message: string,
    readonly details: Readonly<Record<string, string | number | boolean | null>> = {},
    permanent?: boolean,
  ) {
    super(message);
    this.name = 'WorkspaceError';
    this.permanent = permanent ?? WORKSPACE_ERROR_CODES[code];
  }
}

/** True when `e` is a {@link WorkspaceError}, optionally with the given code. */
export function isWorkspaceError(e: unknown, code?: WorkspaceErrorCode): e is WorkspaceError {
  return e instanceof WorkspaceError && (code === undefined || e.code === code);
}
