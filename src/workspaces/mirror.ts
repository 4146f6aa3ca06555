/**
 * One bare mirror per repository URL, at `<root>/mirrors/<sha256(url)[0..32]>.git`, shared by the
 * worktrees of every job of that repository on this host.
 *
 * Not `git clone --mirror`: its fetch refspec `+refs/*:refs/*` together with pruning would delete
 * our local job branches (refs/heads/aicd/…) at every fetch. Instead a bare repository with remote
 * `origin` and fetch refspec `+refs/heads/*:refs/remotes/origin/*` (git-fetch(1), "CONFIGURED
 * REMOTE-TRACKING BRANCHES", https://git-scm.com/docs/git-fetch): remote branches live under
 * refs/remotes/origin/, local job branches under refs/heads/, and `--prune` touches only the former.
 * The remote's default branch is asked with `git remote set-head origin --auto` (the same
 * query as `git ls-remote --symref origin HEAD`, git-remote(1)) and kept as the symref
 * refs/remotes/origin/HEAD.
 *
 * The mirror's config is ours alone and is put back before every network command
 * (`mirror-config.ts`). Mutations run under the mirror's cross-process lock (`mirror-lock.ts`). Fetches are coalesced:
 * a caller that waited for the lock while another process fetched skips its own fetch when that
 * fetch started after the caller asked.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import type { GitRunner } from './git-runner';
import { withFileLock } from './mirror-lock';
import { mirrorConfigIsCanonical, writeMirrorConfig } from './mirror-config';
import { WorkspaceError } from './workspace.errors';
import type { WorkspaceLogger } from './workspace.types';

/** File in the mirror holding the start time (ms since the epoch) of its last successful fetch. */
const FETCHED_AT = 'aicd-fetched-at';

export interface MirrorStoreOptions {
  root: string;
  lockTimeoutMs: number;
  lockStaleMs: number;
  logger: WorkspaceLogger;
}

export class MirrorStore {
  readonly dir: string;

  constructor(
    private readonly git: GitRunner,
    private readonly opts: MirrorStoreOptions,
  ) {
    this.dir = path.join(opts.root, 'mirrors');
  }

  /** The mirror's git directory for `url`. */
  gitDirFor(url: string): string {
    return path.join(this.dir, `${createHash('sha256').update(url).digest('hex').slice(0, 32)}.git`);
  }

  /** Runs `fn` holding the lock of the mirror at `gitDir` (lock directory `<hash>.lock` beside it). */
  withLock<T>(gitDir: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const lockPath = gitDir.replace(/\.git$/, '.lock');
    return withFileLock({ lockPath, timeoutMs: this.opts.lockTimeoutMs, staleMs: this.opts.lockStaleMs, signal, logger: this.opts.logger }, fn);
  }

  /**
   * Creates the mirror when missing, then fetches origin (`--prune --no-tags`) and records the
   * remote's default branch, unless a fetch that started after this call already did.
   * @returns the mirror's git directory.
   * @throws WorkspaceError from git (`GIT_FAILED`, `GIT_AUTH_FAILED`, `GIT_TIMEOUT`, `ABORTED`) or the lock.
   */
  async prepare(url: string, signal?: AbortSignal): Promise<string> {
    const askedAt = Date.now();
    const gitDir = this.gitDirFor(url);
    await fs.mkdir(this.dir, { recursive: true });
    await this.withLock(
      gitDir,
      async () => {
        await this.create(gitDir, url, signal);
        await this.restoreConfig(gitDir, url);
        if ((await this.lastFetchStart(gitDir)) > askedAt) return;
        const startedAt = Date.now();
        await this.run(gitDir, ['fetch', '--prune', '--no-tags', '--quiet', 'origin'], signal, true);
        await this.recordRemoteHead(gitDir, signal);
        await fs.writeFile(path.join(gitDir, FETCHED_AT), String(startedAt));
      },
      signal,
    );
    return gitDir;
  }

  /** The remote's default branch as recorded by the last fetch, or null (empty remote, dangling HEAD). */
  async defaultBranch(gitDir: string): Promise<string | null> {
    const r = await this.run(gitDir, ['symbolic-ref', '-q', 'refs/remotes/origin/HEAD'], undefined, false, [0, 1]);
    const ref = r.stdout.trim();
    return ref.startsWith('refs/remotes/origin/') ? ref.slice('refs/remotes/origin/'.length) : null;
  }

  /**
   * The given refs (full names) that exist, with their commit and, for a symbolic ref, its target.
   * One `git for-each-ref` call.
   */
  async refs(gitDir: string, names: readonly string[]): Promise<Map<string, { sha: string; target: string }>> {
    const r = await this.run(gitDir, ['for-each-ref', '--format=%(refname) %(objectname) %(symref)', ...names]);
    const found = new Map<string, { sha: string; target: string }>();
    for (const line of r.stdout.split('\n')) {
      const [name, sha, target = ''] = line.split(' ');
      if (name && sha && names.includes(name)) found.set(name, { sha, target });
    }
    return found;
  }

  /** The commit `ref` names in the mirror, or null. */
  async resolve(gitDir: string, ref: string): Promise<string | null> {
    const r = await this.run(gitDir, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`], undefined, false, [0, 1]);
    return r.exitCode === 0 ? r.stdout.trim() : null;
  }

  /**
   * Makes sure the commit `sha` is in the mirror, fetching it by id when it is not (servers that
   * allow it: GitHub, protocol v2).
   * @throws WorkspaceError `COMMIT_NOT_FOUND` when it still is not.
   */
  async ensureCommit(url: string, sha: string, signal?: AbortSignal): Promise<string> {
    const gitDir = this.gitDirFor(url);
    const known = await this.resolve(gitDir, sha);
    if (known) return known;
    await this.withLock(
      gitDir,
      async () => {
        await this.restoreConfig(gitDir, url);
        await this.run(gitDir, ['fetch', '--no-tags', '--quiet', 'origin', sha], signal, true).catch((e: unknown) => {
          // The server may refuse a want by id ("not our ref"): that is the not-found case below.
          if (!(e instanceof WorkspaceError && e.code === 'GIT_FAILED')) throw e;
        });
      },
      signal,
    );
    const fetched = await this.resolve(gitDir, sha);
    if (!fetched) throw new WorkspaceError('COMMIT_NOT_FOUND', `commit ${sha} is neither in the mirror nor fetchable from the remote`, { commit: sha });
    return fetched;
  }

  /** `git --git-dir=<gitDir> <args>`, run from the root. */
  run(gitDir: string, args: readonly string[], signal?: AbortSignal, network = false, okExitCodes?: readonly number[]) {
    return this.git.run([`--git-dir=${gitDir}`, ...args], { cwd: this.opts.root, signal, network, okExitCodes });
  }

  /** Mirror git directories present under `<root>/mirrors`. */
  async list(): Promise<string[]> {
    const names = await fs.readdir(this.dir).catch(() => [] as string[]);
    return names.filter((n) => n.endsWith('.git')).map((n) => path.join(this.dir, n));
  }

  private async create(gitDir: string, url: string, signal?: AbortSignal): Promise<void> {
    // The directory name is the URL's hash, so an existing mirror has this URL as origin.
    if (await fs.stat(path.join(gitDir, 'HEAD')).catch(() => null)) return;
    // Built aside and renamed into place: a crash mid-way never leaves a half-made mirror.
    await fs.rm(gitDir, { recursive: true, force: true });
    const tmp = `${gitDir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      await this.git.run(['init', '--bare', '--quiet', tmp], { cwd: this.opts.root, signal });
      await writeMirrorConfig(tmp, url);
      await fs.rename(tmp, gitDir);
    } catch (e) {
      await fs.rm(tmp, { recursive: true, force: true });
      throw e;
    }
  }

  /**
   * Puts the canonical config back when it was changed (see `mirror-config.ts`). Call with the
   * lock held, before a network command of the mirror.
   */
  private async restoreConfig(gitDir: string, url: string): Promise<void> {
    if (await writeMirrorConfig(gitDir, url)) {
      this.opts.logger.warn('mirror config was modified (not by the orchestrator); restored it', { mirror: gitDir });
    }
  }

  /**
   * Makes sure the mirror's config is canonical before a network command run outside the lock
   * (push, ls-remote from a worktree): reads it, and rewrites it under the lock when it differs.
   */
  async guardConfig(url: string, signal?: AbortSignal): Promise<void> {
    const gitDir = this.gitDirFor(url);
    if (await mirrorConfigIsCanonical(gitDir, url)) return;
    await this.withLock(gitDir, () => this.restoreConfig(gitDir, url), signal);
  }

  /**
   * `git remote set-head origin --auto` (git-remote(1)): asks the remote for its HEAD and points
   * refs/remotes/origin/HEAD at it; when the remote has none (empty, or HEAD dangling) the old
   * symref is dropped.
   */
  private async recordRemoteHead(gitDir: string, signal?: AbortSignal): Promise<void> {
    const r = await this.run(gitDir, ['remote', 'set-head', 'origin', '--auto'], signal, true, [0, 1]);
    if (r.exitCode !== 0) await this.run(gitDir, ['update-ref', '--no-deref', '-d', 'refs/remotes/origin/HEAD'], signal);
  }

  private async lastFetchStart(gitDir: string): Promise<number> {
    const text = await fs.readFile(path.join(gitDir, FETCHED_AT), 'utf8').catch(() => '0');
    return Number(text) || 0;
  }
}
