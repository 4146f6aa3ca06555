/**
 * Making a commit that any host can make again, byte for byte: the commit id is the hash of tree,
 * parent, author, committer (name, email, date, zone) and message (git-commit-tree(1),
 * https://git-scm.com/docs/git-commit-tree). So we fix all of them: author = committer = the
 * given identity, the date in git's internal format `<unix seconds> +0000` (git-commit(1), "DATE
 * FORMATS"), the message verbatim (`--cleanup=verbatim`), no signature (`--no-gpg-sign`), no
 * hooks (`--no-verify`, and `core.hooksPath=/dev/null` on every call), and no host config
 * (GIT_CONFIG_GLOBAL=/dev/null, see `git-runner.ts`).
 */
import { WorkspaceError } from './workspace.errors';
import type { GitResult, GitRunOptions } from './git-runner';
import type { CommitIdentity } from './workspace.types';

/** A worktree's git: runs `git <args>` inside it. */
export interface WorktreeGit {
  readonly path: string;
  run(args: readonly string[], opts?: Omit<GitRunOptions, 'cwd'>): Promise<GitResult>;
}

const COMMIT_ID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/**
 * Returns the full commit id in lower case.
 * @throws WorkspaceError `INVALID_ARGUMENT` unless it is 40 (SHA-1) or 64 (SHA-256) hex digits.
 */
export function assertCommitId(value: string, what: string): string {
  const v = typeof value === 'string' ? value.toLowerCase() : '';
  if (!COMMIT_ID.test(v)) throw new WorkspaceError('INVALID_ARGUMENT', `${what} must be a full commit id (40 hex digits), got ${JSON.stringify(String(value).slice(0, 80))}`);
  return v;
}

/**
 * `date` (ISO-8601) as git's internal date format, UTC, whole seconds.
 * @throws WorkspaceError `INVALID_ARGUMENT` for an unparseable date.
 */
export function gitDate(date: string): string {
  const ms = Date.parse(date);
  if (!Number.isFinite(ms)) throw new WorkspaceError('INVALID_ARGUMENT', `commit date must be ISO-8601, got ${JSON.stringify(String(date).slice(0, 80))}`);
  return `${Math.floor(ms / 1000)} +0000`;
}

/**
 * Checks name and email: non-empty, no `<`, `>` or line breaks (git would strip or refuse them,
 * changing the commit id).
 * @throws WorkspaceError `INVALID_ARGUMENT`.
 */
export function assertIdentity(id: CommitIdentity): void {
  for (const [field, value] of [
    ['authorName', id.authorName],
    ['authorEmail', id.authorEmail],
  ] as const) {
    if (typeof value !== 'string' || !value.trim() || /[<>\r\n\0]/.test(value) || value !== value.trim()) {
      throw new WorkspaceError('INVALID_ARGUMENT', `${field} must be non-empty, without <, >, line breaks or surrounding spaces`);
    }
  }
  gitDate(id.date);
}

/** GIT_AUTHOR_* and GIT_COMMITTER_* for `id` (git-commit-tree(1), "COMMIT INFORMATION"). */
export function identityEnv(id: CommitIdentity): Record<string, string> {
  const date = gitDate(id.date);
  return {
    GIT_AUTHOR_NAME: id.authorName,
    GIT_AUTHOR_EMAIL: id.authorEmail,
    GIT_AUTHOR_DATE: date,
    GIT_COMMITTER_NAME: id.authorName,
    GIT_COMMITTER_EMAIL: id.authorEmail,
    GIT_COMMITTER_DATE: date,
  };
}

/**
 * Commits the worktree's index on its current branch.
 * @returns the new commit id.
 * @throws WorkspaceError `INVALID_ARGUMENT` for an empty message or a bad identity; git errors.
 */
export async function commitIndex(wt: WorktreeGit, message: string, id: CommitIdentity, signal?: AbortSignal): Promise<string> {
  if (typeof message !== 'string' || !message.trim()) throw new WorkspaceError('INVALID_ARGUMENT', 'commit message must not be empty');
  assertIdentity(id);
  await wt.run(['commit', '--quiet', '--no-verify', '--no-gpg-sign', '--cleanup=verbatim', '-m', message], { env: identityEnv(id), signal });
  return (await wt.run(['rev-parse', 'HEAD'], { signal })).stdout.trim();
}
