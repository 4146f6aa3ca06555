/**
 * The workspaces of jobs on this host: one bare mirror per repository (`mirror.ts`), one git
 * worktree per job (`worktree.ts`) on the branch `aicd/<issue>-<jobId[0..8]>`. Pure module: plain
 * option objects, no Nest, BullMQ or MongoDB. Stages of one job may run in different processes or
 * on different hosts; `ensure` makes any of them find the job's branch where the last stage left
 * it (see its rules). Layout under `root`:
 *
 *   mirrors/<hash>.git   bare mirror of one repository URL      mirrors/<hash>.lock  its lock
 *   worktrees/<jobId>    the job's worktree                     .aicd/askpass.sh, .aicd/tmp/
 */
import * as path from 'node:path';
import { promises as fs } from 'node:fs';
import { ensureAskpassScript } from './askpass';
import { assertJobId, branchName, isValidJobId } from './branch-name';
import { assertCommitId } from './commit';
import { commitChanges as commitStagedChanges } from './commit-changes';
import { DEFAULT_PASS_ENV, GitRunner } from './git-runner';
import { MirrorStore } from './mirror';
import { assertRemoteUrl } from './remote-url';
import { applyRestoreChain, restoreChain } from './restore';
import { apparentSize, assertSizeWithin } from './workspace-size';
import { WorkspaceError } from './workspace.errors';
import { Worktrees } from './worktree';
import type {
  CommitChangesOptions,
  CommitResult,
  EnsureOptions,
  PushResult,
  RemoveOptions,
  RemoveResult,
  Workspace,
  WorkspaceJob,
  WorkspaceManagerOptions,
} from './workspace.types';

const NO_LOG = { debug: () => undefined, warn: () => undefined };

export class WorkspaceManager {
  readonly root: string;
  private readonly git: GitRunner;
  private readonly mirrors: MirrorStore;
  private readonly worktrees: Worktrees;
  private readonly tmpDir: string;
  private askpass: Promise<string> | null = null;

  constructor(options: WorkspaceManagerOptions) {
    this.root = path.resolve(options.root);
    this.tmpDir = path.join(this.root, '.aicd', 'tmp');
    const logger = options.logger ?? NO_LOG;
    this.git = new GitRunner({
      gitBinary: options.gitBinary ?? 'git',
      timeoutMs: options.gitTimeoutMs ?? 120_000,
      networkTimeoutMs: options.networkTimeoutMs ?? 600_000,
      askpass: () => this.askpassScript(),
      token: options.token,
      passEnv: options.passEnv ?? DEFAULT_PASS_ENV,
      networkEnv: options.networkEnv ?? {},
      logger,
      onCommand: options.onGitCommand,
    });
    this.mirrors = new MirrorStore(this.git, {
      root: this.root,
      lockTimeoutMs: options.lockTimeoutMs ?? 600_000,
      lockStaleMs: options.lockStaleMs ?? 30_000,
      logger,
    });
    this.worktrees = new Worktrees(this.git, this.root);
  }

  /**
   * Prepares the job's worktree and returns it. The mirror is created if needed and fetched
   * first (coalesced with concurrent fetches). Then:
   * - a valid worktree of this mirror at `<root>/worktrees/<jobId>` on the job branch is reused as
   *   is (uncommitted changes included); stale admin links are repaired (`git worktree repair`),
   *   a HEAD moved off the branch is checked out back onto it (`checkout --force`);
   * - otherwise (none, or a directory that is not a worktree of this mirror: deleted) it is
   *   created from, in order: the local branch in the mirror; the pushed branch
   *   `origin/aicd/…`; `baseCommit`; the base branch's head (a new job);
   * - with `restore`, orchestrator commits the branch lacks are rebuilt from their diffs (same
   *   commit ids, checked), after `reset --hard` to the last one it has (or the base commit).
   *
   * @returns the workspace; `baseCommit` is the one to record on a new job.
   * @throws WorkspaceError `INVALID_ARGUMENT`, `INVALID_REMOTE_URL`, `REMOTE_URL_HAS_CREDENTIALS`,
   *   `REMOTE_HEAD_UNKNOWN`, `BASE_BRANCH_NOT_FOUND`, `COMMIT_NOT_FOUND`, `BRANCH_CONFLICT`,
   *   `RESTORE_FAILED`, `RESTORE_MISMATCH`, `LOCK_TIMEOUT`, `GIT_*`, `ABORTED`.
   */
  async ensure(job: WorkspaceJob, opts: EnsureOptions): Promise<Workspace> {
    const jobId = assertJobId(job.jobId);
    const branch = branchName(job.issueNumber, jobId);
    const remoteUrl = assertRemoteUrl(opts.remoteUrl);
    const chain = restoreChain(opts.restore);
    const signal = opts.signal;
    const wantedBase = opts.baseCommit ? assertCommitId(opts.baseCommit, 'baseCommit') : null;
    await fs.mkdir(this.worktrees.dir, { recursive: true });
    if (opts.baseBranch) await this.assertBranchName(opts.baseBranch);

    const gitDir = await this.mirrors.prepare(remoteUrl, signal);
    const knownBase = wantedBase ? await this.mirrors.ensureCommit(remoteUrl, wantedBase, signal) : null;
    const wtPath = this.worktrees.pathFor(jobId);
    let state = await this.worktrees.inspect(wtPath, gitDir, branch, signal);
    let createdFrom: string | null = null;
    if (state.kind !== 'ok') {
      createdFrom = await this.mirrors.withLock(gitDir, () => this.prepareWorktree(gitDir, wtPath, branch, knownBase, opts.baseBranch ?? null, signal), signal);
      state = await this.worktrees.inspect(wtPath, gitDir, branch, signal);
      if (state.kind !== 'ok') throw new WorkspaceError('GIT_FAILED', `worktree ${wtPath} is unusable after being prepared (${state.kind})`, { path: wtPath });
    }
    const wt = this.worktrees.at(wtPath);
    const meta = await this.worktrees.readMetadata(state.adminDir);
    const baseBranch = opts.baseBranch ?? meta?.baseBranch ?? (await this.defaultBranch(gitDir));
    let baseCommit = knownBase ?? meta?.baseCommit ?? createdFrom;
    if (!baseCommit) {
      const mb = await wt.run(['merge-base', 'HEAD', `refs/remotes/origin/${baseBranch}`], { okExitCodes: [0, 1], signal });
      baseCommit = mb.stdout.trim() || null;
    }
    if (!baseCommit) throw new WorkspaceError('COMMIT_NOT_FOUND', `cannot tell the base commit of ${branch}: pass baseCommit`, { branch });
    let head = state.head;
    if (chain.length && (await applyRestoreChain(wt, chain, baseCommit, this.tmpDir, signal))) {
      head = (await wt.run(['rev-parse', 'HEAD'], { signal })).stdout.trim();
    }
    if (!meta || meta.baseCommit !== baseCommit || meta.baseBranch !== baseBranch) {
      await this.worktrees.writeMetadata(state.adminDir, { jobId, branch, baseBranch, baseCommit, remoteUrl });
    }
    return { jobId, path: wtPath, branch, baseBranch, baseCommit, head, remoteUrl };
  }

  /**
   * Under the mirror lock: repairs the worktree, or (re)creates it from the first start point
   * that exists. @returns the start commit when created from a base, else null.
   */
  private async prepareWorktree(
    gitDir: string,
    wtPath: string,
    branch: string,
    baseCommit: string | null,
    baseBranch: string | null,
    signal?: AbortSignal,
  ): Promise<string | null> {
    let state = await this.worktrees.inspect(wtPath, gitDir, branch, signal); // again: another process may have fixed it
    if (state.kind === 'needs-repair') {
      await this.worktrees.repair(gitDir, wtPath, signal);
      state = await this.worktrees.inspect(wtPath, gitDir, branch, signal);
    }
    const [local, pushed, remoteHead, base] = [`refs/heads/${branch}`, `refs/remotes/origin/${branch}`, 'refs/remotes/origin/HEAD', `refs/remotes/origin/${baseBranch}`];
    const refs = await this.mirrors.refs(gitDir, baseBranch ? [local, pushed, base] : [local, pushed, remoteHead]);
    if (state.kind === 'wrong-branch' && refs.has(local)) {
      await this.worktrees.at(wtPath).run(['checkout', '--force', '--quiet', branch], { signal });
      state = await this.worktrees.inspect(wtPath, gitDir, branch, signal);
    }
    if (state.kind === 'ok') return null;
    await this.worktrees.discard(gitDir, wtPath, signal);
    if (refs.has(local)) {
      await this.worktrees.create(gitDir, wtPath, branch, { kind: 'local-branch' }, signal);
      return null;
    }
    if (refs.has(pushed)) {
      await this.worktrees.create(gitDir, wtPath, branch, { kind: 'new-branch', from: pushed }, signal);
      return null;
    }
    let start = baseCommit;
    if (!start) {
      if (baseBranch) start = refs.get(base)?.sha ?? null;
      else if (refs.get(remoteHead)?.target) start = refs.get(remoteHead)?.sha ?? null;
      else throw this.noRemoteHead();
      if (!start) throw new WorkspaceError('BASE_BRANCH_NOT_FOUND', `base branch ${baseBranch} does not exist on the remote`, { baseBranch });
    }
    await this.worktrees.create(gitDir, wtPath, branch, { kind: 'new-branch', from: start }, signal);
    return start;
  }

  /**
   * Commits the stage's changes on the job branch (see `commit-changes.ts`).
   * @throws WorkspaceError `WORKSPACE_NOT_FOUND`, `INVALID_ARGUMENT`, `COMMIT_NOT_FOUND`,
   *   `NO_CHANGES`, `PATH_OUTSIDE_WORKSPACE`, `EMBEDDED_REPOSITORY`, `DIFF_TOO_LARGE`, `GIT_*`, `ABORTED`.
   */
  async commitChanges(ws: Workspace, opts: CommitChangesOptions): Promise<CommitResult> {
    await this.assertPresent(ws);
    return commitStagedChanges(this.worktrees.at(ws.path), ws.branch, this.tmpDir, opts);
  }

  /**
   * Starts a retried attempt from `commit` (the last committed stage result): HEAD back on the
   * branch, `git reset --hard <commit>`, then `git clean -ffd` — untracked files and nested
   * repositories go, IGNORED files stay (no `-x`: build outputs such as node_modules survive).
   * @returns the new head (= `commit`).
   * @throws WorkspaceError `WORKSPACE_NOT_FOUND`, `INVALID_ARGUMENT`, `COMMIT_NOT_FOUND`, `GIT_*`.
   */
  async resetTo(ws: Workspace, commit: string, signal?: AbortSignal): Promise<string> {
    const sha = assertCommitId(commit, 'commit');
    await this.assertPresent(ws);
    const wt = this.worktrees.at(ws.path);
    const known = await wt.run(['rev-parse', '--verify', '--quiet', `${sha}^{commit}`], { okExitCodes: [0, 1], signal });
    if (known.exitCode !== 0) throw new WorkspaceError('COMMIT_NOT_FOUND', `commit ${sha} is not in the repository`, { commit: sha });
    await wt.run(['symbolic-ref', 'HEAD', `refs/heads/${ws.branch}`], { signal });
    await wt.run(['reset', '--hard', '--quiet', sha], { signal });
    await wt.run(['clean', '-ffdq'], { signal });
    return sha;
  }

  /** Apparent size of the worktree in bytes (files and symlinks; the mirror is not counted; 0 when absent). */
  sizeBytes(ws: Workspace): Promise<number> {
    return apparentSize(ws.path);
  }

  /** @throws WorkspaceError `WORKSPACE_TOO_LARGE` (permanent; details sizeBytes, maxBytes). */
  assertWithinLimit(ws: Workspace, maxBytes: number): Promise<void> {
    return assertSizeWithin(ws.path, maxBytes);
  }

  /**
   * Pushes the job branch to `refs/heads/<branch>` on the remote, forced (the branch belongs to
   * this job alone). Pushes to the URL, not the remote name, so the mirror's refs are not written
   * and no lock is needed; the next fetch records it under origin/.
   * @throws WorkspaceError `WORKSPACE_NOT_FOUND`, `GIT_AUTH_FAILED`, `GIT_FAILED`, `GIT_TIMEOUT`, `ABORTED`.
   */
  async push(ws: Workspace, opts: { signal?: AbortSignal } = {}): Promise<PushResult> {
    await this.assertPresent(ws);
    const wt = this.worktrees.at(ws.path);
    const remoteRef = `refs/heads/${ws.branch}`;
    const sha = (await wt.run(['rev-parse', '--verify', `${remoteRef}^{commit}`], { signal: opts.signal })).stdout.trim();
    await this.mirrors.guardConfig(assertRemoteUrl(ws.remoteUrl), opts.signal);
    await wt.run(['push', '--force', '--no-verify', '--quiet', assertRemoteUrl(ws.remoteUrl), `${remoteRef}:${remoteRef}`], { network: true, signal: opts.signal });
    return { sha, remoteRef };
  }

  /** The remote's head of the job branch (`git ls-remote`), or null when it was never pushed. */
  async remoteBranchHead(ws: Workspace, opts: { signal?: AbortSignal } = {}): Promise<string | null> {
    await this.assertPresent(ws);
    await this.mirrors.guardConfig(assertRemoteUrl(ws.remoteUrl), opts.signal);
    const r = await this.worktrees.at(ws.path).run(['ls-remote', assertRemoteUrl(ws.remoteUrl), `refs/heads/${ws.branch}`], { network: true, signal: opts.signal });
    return /^([0-9a-f]{40,64})\t/m.exec(r.stdout)?.[1] ?? null;
  }

  /**
   * Removes the job's worktree (`git worktree remove --force --force`, then `prune`) and, with
   * `deleteBranch`, its local branch. Works when the directory is already gone (prunes every
   * mirror; the branch is then named from `issueNumber`).
   * @throws WorkspaceError `INVALID_ARGUMENT`, `LOCK_TIMEOUT`, `GIT_*`.
   */
  async remove(jobId: string, opts: RemoveOptions = {}): Promise<RemoveResult> {
    const wtPath = this.worktrees.pathFor(assertJobId(jobId));
    const signal = opts.signal;
    const owner = await this.worktrees.mirrorOf(wtPath);
    let branch = opts.issueNumber ? branchName(opts.issueNumber, jobId) : null;
    if (owner) {
      const head = await this.worktrees.at(wtPath).run(['symbolic-ref', '--quiet', 'HEAD'], { okExitCodes: [0, 1], signal });
      branch = head.stdout.trim().replace(/^refs\/heads\//, '') || branch;
    }
    const existed = !!(await fs.stat(wtPath).catch(() => null));
    const mirrors = owner ? [owner] : await this.mirrors.list();
    let branchDeleted = false;
    for (const gitDir of mirrors) {
      await this.mirrors.withLock(
        gitDir,
        async () => {
          if (owner) await this.mirrors.run(gitDir, ['worktree', 'remove', '--force', '--force', wtPath], signal, false, [0, 128]);
          await this.worktrees.discard(gitDir, wtPath, signal);
          if (opts.deleteBranch && branch?.startsWith('aicd/')) {
            const r = await this.mirrors.run(gitDir, ['branch', '--delete', '--force', '--quiet', branch], signal, false, [0, 1]);
            branchDeleted ||= r.exitCode === 0;
          }
        },
        signal,
      );
    }
    await fs.rm(wtPath, { recursive: true, force: true });
    return { removed: existed, branchDeleted };
  }

  /** Job ids of the worktrees present on this host (for a janitor removing those of final jobs). */
  async listJobIds(): Promise<string[]> {
    return (await this.worktrees.list()).filter(isValidJobId).sort();
  }

  /** The askpass script's path, written once per manager (again after a failed write). */
  private askpassScript(): Promise<string> {
    this.askpass ??= ensureAskpassScript(this.root).catch((e: unknown) => {
      this.askpass = null;
      throw e;
    });
    return this.askpass;
  }

  private async defaultBranch(gitDir: string): Promise<string> {
    const b = await this.mirrors.defaultBranch(gitDir);
    if (!b) throw this.noRemoteHead();
    return b;
  }

  private noRemoteHead(): WorkspaceError {
    return new WorkspaceError('REMOTE_HEAD_UNKNOWN', 'the remote has no default branch (empty repository?): configure baseBranch');
  }

  private async assertBranchName(name: string): Promise<void> {
    const r = await this.git.run(['check-ref-format', '--branch', name], { cwd: this.root, okExitCodes: [0, 1, 128] }).catch(() => null);
    if (!r || r.exitCode !== 0 || name.startsWith('-')) throw new WorkspaceError('INVALID_ARGUMENT', `invalid base branch name ${JSON.stringify(name.slice(0, 200))}`);
  }

  private async assertPresent(ws: Workspace): Promise<void> {
    assertJobId(ws.jobId);
    if (ws.path !== this.worktrees.pathFor(ws.jobId) || !(await fs.stat(path.join(ws.path, '.git')).catch(() => null))) {
      throw new WorkspaceError('WORKSPACE_NOT_FOUND', `no worktree for job ${ws.jobId} on this host: call ensure first`, { jobId: ws.jobId });
    }
  }
}
