/**
 * Job worktrees: one `git worktree` (git-worktree(1), https://git-scm.com/docs/git-worktree) per
 * job at `<root>/worktrees/<jobId>`, linked to the repository's mirror and checked out on the
 * job's branch. This file knows how to inspect, create, repair and discard one; which start point
 * to use is the manager's decision. Callers hold the mirror lock around `create` and `discard`
 * (they write the mirror's `worktrees/` administrative files and refs).
 *
 * A small JSON file in the worktree's administrative directory (`<mirror>/worktrees/<name>/`)
 * remembers the base branch and base commit; git removes it together with the worktree.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { GitRunner, GitRunOptions } from './git-runner';
import type { WorktreeGit } from './commit';
import { WorkspaceError, isWorkspaceError } from './workspace.errors';

const METADATA = 'aicd-workspace.json';

export interface WorktreeMetadata {
  jobId: string;
  branch: string;
  baseBranch: string;
  baseCommit: string;
  remoteUrl: string;
}

/** A worktree of this mirror: its administrative directory and its HEAD commit. */
export interface WorktreeFound {
  adminDir: string;
  head: string;
}

export type WorktreeState =
  | { kind: 'missing' }
  | ({ kind: 'ok' } & WorktreeFound)
  /** A worktree of this mirror whose admin files point elsewhere (`git worktree repair` fixes it). */
  | ({ kind: 'needs-repair' } & WorktreeFound)
  /** A worktree of this mirror with HEAD off the job branch (the agent checked something out). */
  | ({ kind: 'wrong-branch' } & WorktreeFound)
  /** A directory that is not a worktree of this mirror. */
  | { kind: 'broken'; reason: string };

/** Where a new worktree starts: the existing local branch, or a new branch at a commit-ish. */
export type WorktreeStart = { kind: 'local-branch' } | { kind: 'new-branch'; from: string };

export class Worktrees {
  readonly dir: string;

  constructor(
    private readonly git: GitRunner,
    root: string,
  ) {
    this.dir = path.join(root, 'worktrees');
  }

  pathFor(jobId: string): string {
    return path.join(this.dir, jobId);
  }

  /**
   * Git inside the worktree at `wtPath`. Repository discovery stops at `<root>/worktrees`
   * (GIT_CEILING_DIRECTORIES, git(1)): a worktree that lost its `.git` is never mistaken for an
   * enclosing repository.
   */
  at(wtPath: string): WorktreeGit {
    const env = { GIT_CEILING_DIRECTORIES: this.dir };
    return {
      path: wtPath,
      run: (args: readonly string[], opts: Omit<GitRunOptions, 'cwd'> = {}) => this.git.run(args, { ...opts, cwd: wtPath, env: { ...opts.env, ...env } }),
    };
  }

  /** Job ids of the worktree directories present. */
  async list(): Promise<string[]> {
    const entries = await fs.readdir(this.dir, { withFileTypes: true }).catch(() => []);
    return entries.filter((e) => e.isDirectory()).map((e) => e.name);
  }

  /** The state of `wtPath` relative to the mirror `gitDir` and the job's `branch` (one git call). */
  async inspect(wtPath: string, gitDir: string, branch: string, signal?: AbortSignal): Promise<WorktreeState> {
    if (!(await fs.stat(wtPath).catch(() => null))) return { kind: 'missing' };
    const r = await this.at(wtPath).run(['rev-parse', '--path-format=absolute', '--git-common-dir', '--git-dir', 'HEAD', '--symbolic-full-name', 'HEAD'], {
      okExitCodes: [0, 128],
      signal,
    });
    const [common, adminDir, head, symbolic] = r.stdout.trim().split('\n');
    if (r.exitCode !== 0 || !symbolic) return { kind: 'broken', reason: 'not a git worktree' };
    const [realCommon, realMirror] = await Promise.all([fs.realpath(common).catch(() => common), fs.realpath(gitDir).catch(() => gitDir)]);
    if (realCommon !== realMirror || adminDir === common) return { kind: 'broken', reason: `linked to ${realCommon}, not to this mirror` };
    const backLink = (await fs.readFile(path.join(adminDir, 'gitdir'), 'utf8').catch(() => '')).trim();
    if (backLink !== path.join(await fs.realpath(wtPath), '.git') && backLink !== path.join(wtPath, '.git')) return { kind: 'needs-repair', adminDir, head };
    return { kind: symbolic === `refs/heads/${branch}` ? 'ok' : 'wrong-branch', adminDir, head };
  }

  /** The mirror (git common directory) the worktree at `wtPath` belongs to, or null. */
  async mirrorOf(wtPath: string): Promise<string | null> {
    if (!(await fs.stat(wtPath).catch(() => null))) return null;
    const r = await this.at(wtPath).run(['rev-parse', '--path-format=absolute', '--git-common-dir'], { okExitCodes: [0, 128] });
    return r.exitCode === 0 ? r.stdout.trim() : null;
  }

  /** `git worktree repair <wtPath>`: rewrites the two-way links between worktree and mirror. */
  async repair(gitDir: string, wtPath: string, signal?: AbortSignal): Promise<void> {
    await this.git.run([`--git-dir=${gitDir}`, 'worktree', 'repair', wtPath], { cwd: this.dir, signal });
  }

  /**
   * Deletes the directory and, when the mirror still has an administrative entry for it, prunes
   * the mirror's stale worktree entries (`git worktree prune`). Caller holds the lock.
   */
  async discard(gitDir: string, wtPath: string, signal?: AbortSignal): Promise<void> {
    await fs.rm(wtPath, { recursive: true, force: true });
    const name = path.basename(wtPath);
    const entries = await fs.readdir(path.join(gitDir, 'worktrees')).catch(() => [] as string[]);
    if (entries.some((e) => e.startsWith(name))) {
      await this.git.run([`--git-dir=${gitDir}`, 'worktree', 'prune'], { cwd: this.dir, signal });
    }
  }

  /**
   * `git worktree add` at `wtPath` on `branch`. Caller holds the lock, and `wtPath` does not exist.
   * @throws WorkspaceError `BRANCH_CONFLICT` when another worktree has the branch checked out; git errors.
   */
  async create(gitDir: string, wtPath: string, branch: string, start: WorktreeStart, signal?: AbortSignal): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
    const args =
      start.kind === 'local-branch'
        ? ['worktree', 'add', '--quiet', wtPath, branch]
        : ['worktree', 'add', '--quiet', '--no-track', '-b', branch, wtPath, start.from];
    try {
      await this.git.run([`--git-dir=${gitDir}`, ...args], { cwd: this.dir, signal });
    } catch (e) {
      if (isWorkspaceError(e, 'GIT_FAILED') && /already (checked out|used by worktree)/.test(e.message)) {
        throw new WorkspaceError('BRANCH_CONFLICT', `branch ${branch} is checked out by another worktree: ${e.message}`, { branch });
      }
      throw e;
    }
  }

  /** The metadata recorded in the worktree's administrative directory, or null. */
  async readMetadata(adminDir: string): Promise<WorktreeMetadata | null> {
    const text = await fs.readFile(path.join(adminDir, METADATA), 'utf8').catch(() => null);
    if (!text) return null;
    try {
      return JSON.parse(text) as WorktreeMetadata;
    } catch {
      return null;
    }
  }

  async writeMetadata(adminDir: string, meta: WorktreeMetadata): Promise<void> {
    await fs.writeFile(path.join(adminDir, METADATA), JSON.stringify(meta));
  }
}
