/** Shapes of the workspaces module's public API. Pure types. */

/** The job a workspace belongs to. */
export interface WorkspaceJob {
  /** Job id: 1–128 of `[A-Za-z0-9_.-]`, starting alphanumeric (UUIDs qualify). */
  jobId: string;
  /** The issue number on the repository (positive integer); part of the branch name. */
  issueNumber: number;
}

/**
 * One orchestrator commit of the job's branch, as recorded by the caller from
 * `commitChanges`'s result, so that another host can rebuild it with the same sha.
 */
export interface RestoreCommit {
  /** The recorded sha (40 hex). */
  commit: string;
  /** The unified binary diff of the commit against its parent (`CommitResult.diff`). */
  diff: string;
  /** The exact message given to `commitChanges`. */
  message: string;
  authorName: string;
  authorEmail: string;
  /** ISO-8601; git stores whole seconds, UTC (sub-second digits are dropped both times). */
  date: string;
}

export interface EnsureOptions {
  /** The repository URL (see `resolveCloneUrl` / `assertRemoteUrl`). */
  remoteUrl: string;
  /** The job's recorded base commit; null/absent for a new job (then the base branch's head). */
  baseCommit?: string | null;
  /** Base branch; default: the remote's default branch (`git ls-remote --symref origin HEAD`). */
  baseBranch?: string | null;
  /**
   * The job's orchestrator commits, oldest first (one object = a chain of one). The first one's
   * parent is the base commit, each next one's parent the previous one. Commits the branch lacks
   * are rebuilt from their diffs, and each rebuilt sha is checked against `commit`.
   */
  restore?: RestoreCommit | readonly RestoreCommit[] | null;
  signal?: AbortSignal;
}

/** A job's prepared workspace on this host. */
export interface Workspace {
  jobId: string;
  /** Absolute path of the worktree: `<root>/worktrees/<jobId>`. */
  path: string;
  /** `aicd/<issue>-<jobId[0..8]>`. */
  branch: string;
  baseBranch: string;
  /** The commit the job's branch started from (record it on the job). */
  baseCommit: string;
  /** The branch's head when `ensure` returned. */
  head: string;
  remoteUrl: string;
}

/** Who commits, and when. Author and committer get the same identity and date. */
export interface CommitIdentity {
  authorName: string;
  authorEmail: string;
  /** ISO-8601 date (whole seconds are kept). */
  date: string;
}

export interface CommitChangesOptions extends CommitIdentity {
  /** The commit the stage started from; commits the agent made on top of it are folded in. */
  startCommit: string;
  /** Commit message, stored verbatim (`--cleanup=verbatim`). */
  message: string;
  /** Largest accepted diff, bytes (UTF-8 bytes of the unified diff). */
  maxDiffBytes: number;
  signal?: AbortSignal;
}

export type FileChangeStatus = 'added' | 'modified' | 'deleted' | 'renamed';

export interface ChangedFile {
  path: string;
  /** The old path of a renamed file. */
  previousPath?: string;
  status: FileChangeStatus;
  /** Lines added / deleted (0 for binary files). */
  additions: number;
  deletions: number;
  binary: boolean;
}

export interface CommitResult {
  sha: string;
  files: ChangedFile[];
  /** The full unified diff against the start commit (`git diff --binary -M`): applies with `git apply`. */
  diff: string;
  /** Size of `diff`, bytes. */
  diffBytes: number;
  /** `git diff --stat` of the commit. */
  stat: string;
  /**
   * False when the diff is not valid UTF-8 (a text file in another encoding): `diff` then lost
   * bytes and cannot rebuild the commit (a restore would end in `RESTORE_MISMATCH`). Push the
   * branch instead.
   */
  restorable: boolean;
}

export interface PushResult {
  /** The pushed commit. */
  sha: string;
  /** `refs/heads/<branch>` on the remote. */
  remoteRef: string;
}

export interface RemoveOptions {
  /** Also delete the local branch (it was pushed, or the job is final). Default false. */
  deleteBranch?: boolean;
  /** Used to name the branch when the worktree directory is already gone. */
  issueNumber?: number;
  signal?: AbortSignal;
}

export interface RemoveResult {
  /** A worktree directory or registration was removed. */
  removed: boolean;
  /** The local branch was deleted. */
  branchDeleted: boolean;
}

/** Minimal logger (a Nest `Logger` or pino child adapts to it). Never given a secret. */
export interface WorkspaceLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

/** One git command as run, for audit and tests. Holds no secret (argv never carries one). */
export interface GitCommandRecord {
  argv: readonly string[];
  cwd: string;
  /** Fetch, ls-remote, push: the only commands that receive the token (through askpass). */
  network: boolean;
  /** Names (not values) of the environment variables the command received. */
  envKeys: readonly string[];
  exitCode: number | null;
  durationMs: number;
  outcome: 'ok' | 'failed' | 'timeout' | 'aborted';
}

/** Options of a `WorkspaceManager`. Times in ms. */
export interface WorkspaceManagerOptions {
  /** Root directory: `mirrors/`, `worktrees/` and `.aicd/` (askpass script, temp files) live under it. */
  root: string;
  /** The git token (e.g. a GitHub App installation token, may rotate); asked before each network command. */
  token?: () => Promise<string | null>;
  /** Timeout of a local git command, ms. Default 120 000. */
  gitTimeoutMs?: number;
  /** Timeout of a network git command (fetch, ls-remote, push), ms. Default 600 000. */
  networkTimeoutMs?: number;
  /** Longest wait for a mirror lock, ms. Default 600 000 (a fetch of a large repository may hold it). */
  lockTimeoutMs?: number;
  /** A lock not refreshed for this long is stale (its holder died) and is taken over, ms. Default 30 000. */
  lockStaleMs?: number;
  /**
   * Variables copied from this process's environment to network git commands, when set. Default:
   * SSH_AUTH_SOCK, HTTPS_PROXY, https_proxy, NO_PROXY, no_proxy, GIT_SSL_CAINFO, SSL_CERT_FILE, SSL_CERT_DIR.
   */
  passEnv?: readonly string[];
  /** Fixed variables added to network git commands (e.g. GIT_SSL_CAINFO, GIT_SSH_COMMAND). No secrets. */
  networkEnv?: Readonly<Record<string, string>>;
  /** The git executable. Default `git` (on PATH). */
  gitBinary?: string;
  logger?: WorkspaceLogger;
  /** Called after every git command (audit, tests). */
  onGitCommand?: (record: GitCommandRecord) => void;
}
