/**
 * The orchestrator-side commit of a stage's work (the agent never commits for us):
 * 1. HEAD is put back on the job's branch (the agent may have checked out something else);
 * 2. commits the agent made itself are folded: `git reset --mixed <startCommit>` — the `--soft`
 *    reset plus an index reset, so that a file the agent force-added (`git add -f`) but that
 *    `.gitignore` excludes does not slip through the staged index;
 * 3. `git add --all` stages the worktree, honouring `.gitignore` (gitignore(5)): ignored,
 *    untracked files are never committed;
 * 4. the staged changes are checked (`path-guard.ts`), measured and committed with a fixed
 *    identity (`commit.ts`). Any refusal or failure resets the index (to the start commit) and
 *    leaves the working tree as the agent left it.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { isUtf8 } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { assertCommitId, assertIdentity, commitIndex, type WorktreeGit } from './commit';
import { assertChangesInside, parseRawNumstat, type LineCounts, type RawChange } from './path-guard';
import { WorkspaceError } from './workspace.errors';
import type { ChangedFile, CommitChangesOptions, CommitResult, FileChangeStatus } from './workspace.types';

/** Diff options shared by every diff of a commit: renames detected, binary patches included, no external tools. */
const DIFF_FLAGS = ['-M', '--no-color', '--no-ext-diff', '--no-textconv'];

const STATUS: Record<string, FileChangeStatus> = { A: 'added', C: 'added', M: 'modified', T: 'modified', D: 'deleted', R: 'renamed' };

function toFiles(raw: readonly RawChange[], numstat: ReadonlyMap<string, LineCounts>): ChangedFile[] {
  return raw.map((c) => {
    const n = numstat.get(c.path) ?? { additions: 0, deletions: 0, binary: false };
    const file: ChangedFile = { path: c.path, status: STATUS[c.status] ?? 'modified', ...n };
    if (c.status === 'R' && c.previousPath !== undefined) file.previousPath = c.previousPath;
    return file;
  });
}

/**
 * Commits everything the stage changed since `opts.startCommit` on the worktree's branch.
 * @param branch the job's branch (`aicd/…`)
 * @param tmpDir where the diff is spooled (never inside the worktree)
 * @returns the commit, its files, full diff (bytes counted before reading it) and stat.
 * @throws WorkspaceError `INVALID_ARGUMENT`; `COMMIT_NOT_FOUND` (start commit unknown);
 *   `NO_CHANGES`; `PATH_OUTSIDE_WORKSPACE` / `EMBEDDED_REPOSITORY` (names the path);
 *   `DIFF_TOO_LARGE` (details `diffBytes`, `maxDiffBytes`); git errors.
 */
export async function commitChanges(wt: WorktreeGit, branch: string, tmpDir: string, opts: CommitChangesOptions): Promise<CommitResult> {
  const start = assertCommitId(opts.startCommit, 'startCommit');
  assertIdentity(opts);
  if (typeof opts.message !== 'string' || !opts.message.trim()) throw new WorkspaceError('INVALID_ARGUMENT', 'commit message must not be empty');
  if (!Number.isSafeInteger(opts.maxDiffBytes) || opts.maxDiffBytes <= 0) {
    throw new WorkspaceError('INVALID_ARGUMENT', `maxDiffBytes must be a positive integer, got ${opts.maxDiffBytes}`);
  }
  const signal = opts.signal;
  const known = await wt.run(['rev-parse', '--verify', '--quiet', `${start}^{commit}`], { okExitCodes: [0, 1], signal });
  if (known.exitCode !== 0) throw new WorkspaceError('COMMIT_NOT_FOUND', `start commit ${start} is not in the repository`, { commit: start });

  await wt.run(['symbolic-ref', 'HEAD', `refs/heads/${branch}`], { signal });
  await wt.run(['reset', '--quiet', '--mixed', start], { signal });
  await fs.mkdir(tmpDir, { recursive: true });
  const diffFile = path.join(tmpDir, `commit-${randomBytes(6).toString('hex')}.diff`);
  try {
    await wt.run(['add', '--all'], { signal });
    const listed = await wt.run(['diff', '--cached', '--raw', '--numstat', '-z', '--no-abbrev', ...DIFF_FLAGS, start], { signal });
    const { changes: raw, counts } = parseRawNumstat(listed.stdout);
    if (!raw.length) throw new WorkspaceError('NO_CHANGES', `no change to commit against ${start}`, { startCommit: start });
    await assertChangesInside(wt.path, raw);

    await wt.run(['diff', '--cached', '--binary', ...DIFF_FLAGS, start], { signal, stdoutFile: diffFile });
    const diffBytes = (await fs.stat(diffFile)).size;
    if (diffBytes > opts.maxDiffBytes) {
      throw new WorkspaceError('DIFF_TOO_LARGE', `diff is ${diffBytes} bytes, over the limit of ${opts.maxDiffBytes} bytes`, { diffBytes, maxDiffBytes: opts.maxDiffBytes });
    }
    const bytes = await fs.readFile(diffFile);
    const stat = (await wt.run(['diff', '--cached', '--stat', ...DIFF_FLAGS, start], { signal })).stdout;
    const sha = await commitIndex(wt, opts.message, opts, signal);
    return { sha, files: toFiles(raw, counts), diff: bytes.toString('utf8'), diffBytes, stat, restorable: isUtf8(bytes) };
  } catch (e) {
    await wt.run(['reset', '--quiet'], { signal: undefined }).catch(() => undefined);
    throw e;
  } finally {
    await fs.rm(diffFile, { force: true });
  }
}
