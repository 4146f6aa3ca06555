/**
 * Rebuilding a job's orchestrator commits on a host that never had them: each commit the branch
 * lacks is recreated by applying its recorded diff on its parent (`git apply --index`,
 * git-apply(1), https://git-scm.com/docs/git-apply) and committing with the recorded message,
 * identity and date (`commit.ts`), which gives the same commit id as the original — checked, not
 * assumed.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { assertCommitId, assertIdentity, commitIndex, type WorktreeGit } from './commit';
import { WorkspaceError, isWorkspaceError } from './workspace.errors';
import type { RestoreCommit } from './workspace.types';

/** The chain as an array, each entry validated. @throws WorkspaceError `INVALID_ARGUMENT`. */
export function restoreChain(restore: RestoreCommit | readonly RestoreCommit[] | null | undefined): RestoreCommit[] {
  if (!restore) return [];
  const chain = Array.isArray(restore) ? [...(restore as readonly RestoreCommit[])] : [restore as RestoreCommit];
  return chain.map((c, i) => {
    assertIdentity(c);
    if (typeof c.diff !== 'string' || !c.diff) throw new WorkspaceError('INVALID_ARGUMENT', `restore[${i}].diff is empty`);
    if (typeof c.message !== 'string' || !c.message.trim()) throw new WorkspaceError('INVALID_ARGUMENT', `restore[${i}].message is empty`);
    return { ...c, commit: assertCommitId(c.commit, `restore[${i}].commit`) };
  });
}

/** True when commit `sha` exists and HEAD contains it. */
async function contains(wt: WorktreeGit, sha: string, signal?: AbortSignal): Promise<boolean> {
  const exists = await wt.run(['rev-parse', '--verify', '--quiet', `${sha}^{commit}`], { okExitCodes: [0, 1], signal });
  if (exists.exitCode !== 0) return false;
  return (await wt.run(['merge-base', '--is-ancestor', sha, 'HEAD'], { okExitCodes: [0, 1], signal })).exitCode === 0;
}

/**
 * Brings the worktree's branch to the end of `chain`:
 * - the newest chain commit HEAD contains is found (HEAD may hold more on top: left as is);
 * - when that is not the last one, the branch is reset (`reset --hard`, `clean -ffd`) to it (or to
 *   `baseCommit` when HEAD contains none) and every later commit is rebuilt in order.
 *
 * @returns true when commits were rebuilt (HEAD moved), false when the branch had them all.
 * @throws WorkspaceError `RESTORE_FAILED` (a diff does not apply), `RESTORE_MISMATCH` (a rebuilt
 *   commit has another id: the branch is put back on its parent), git errors.
 */
export async function applyRestoreChain(
  wt: WorktreeGit,
  chain: readonly RestoreCommit[],
  baseCommit: string,
  tmpDir: string,
  signal?: AbortSignal,
): Promise<boolean> {
  let have = -1;
  for (let i = chain.length - 1; i >= 0; i--) {
    if (await contains(wt, chain[i].commit, signal)) {
      have = i;
      break;
    }
  }
  if (have === chain.length - 1) return false;
  let parent = have >= 0 ? chain[have].commit : baseCommit;
  await wt.run(['reset', '--hard', '--quiet', parent], { signal });
  await wt.run(['clean', '-ffdq'], { signal });
  await fs.mkdir(tmpDir, { recursive: true });
  for (const c of chain.slice(have + 1)) {
    const file = path.join(tmpDir, `restore-${randomBytes(6).toString('hex')}.diff`);
    await fs.writeFile(file, c.diff);
    try {
      await wt.run(['apply', '--index', '--whitespace=nowarn', file], { signal });
    } catch (e) {
      await wt.run(['reset', '--hard', '--quiet', parent], { signal });
      if (isWorkspaceError(e, 'GIT_FAILED')) {
        throw new WorkspaceError('RESTORE_FAILED', `the diff of ${c.commit} does not apply on ${parent}: ${e.message}`, { commit: c.commit, parent });
      }
      throw e;
    } finally {
      await fs.rm(file, { force: true });
    }
    const sha = await commitIndex(wt, c.message, c, signal);
    if (sha !== c.commit) {
      await wt.run(['reset', '--hard', '--quiet', parent], { signal });
      throw new WorkspaceError(
        'RESTORE_MISMATCH',
        `rebuilding ${c.commit} on ${parent} gave ${sha}: the parent, diff, message, identity or date differ from the original`,
        { commit: c.commit, rebuilt: sha, parent },
      );
    }
    parent = sha;
  }
  return true;
}
