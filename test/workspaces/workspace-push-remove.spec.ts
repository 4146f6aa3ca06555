/** Push to a local bare remote, and removal of worktrees (with or without their branch). */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { isWorkspaceError, WorkspaceManager } from '../../src/workspaces';
import { IDENTITY, git, gitStatus, makeFixture, newJobId, type Fixture } from './support/git-fixture';

let fx: Fixture;
let m: WorkspaceManager;
beforeAll(async () => {
  fx = await makeFixture();
  m = new WorkspaceManager({ root: fx.root });
});
afterAll(async () => {
  await fx.cleanup();
});

const mirror = async () => path.join(fx.root, 'mirrors', (await fs.readdir(path.join(fx.root, 'mirrors'))).find((n) => n.endsWith('.git')) as string);

describe('WorkspaceManager.push', () => {
  it('pushes the job branch (forced) to refs/heads/<branch> on the remote', async () => {
    const ws = await m.ensure({ jobId: newJobId(), issueNumber: 21 }, { remoteUrl: fx.remote });
    expect(await m.remoteBranchHead(ws)).toBeNull();
    await fs.writeFile(path.join(ws.path, 'first.txt'), '1\n');
    const c1 = await m.commitChanges(ws, { ...IDENTITY, startCommit: ws.baseCommit, message: 'first', maxDiffBytes: 10_000 });
    expect(await m.push(ws)).toEqual({ sha: c1.sha, remoteRef: `refs/heads/${ws.branch}` });
    expect(git(fx.remote, 'rev-parse', `refs/heads/${ws.branch}`)).toBe(c1.sha);
    expect(await m.remoteBranchHead(ws)).toBe(c1.sha);

    // A retried stage rewrites the branch (not a fast-forward): the forced push replaces it.
    await m.resetTo(ws, ws.baseCommit);
    await fs.writeFile(path.join(ws.path, 'second.txt'), '2\n');
    const c2 = await m.commitChanges(ws, { ...IDENTITY, startCommit: ws.baseCommit, message: 'second try', maxDiffBytes: 10_000 });
    await m.push(ws);
    expect(git(fx.remote, 'rev-parse', `refs/heads/${ws.branch}`)).toBe(c2.sha);
    expect(gitStatus(fx.remote, 'merge-base', '--is-ancestor', c1.sha, c2.sha)).toBe(1);
    expect(git(fx.remote, 'rev-parse', 'refs/heads/main')).toBe(fx.mainHead); // nothing else touched
  });
});

describe('WorkspaceManager.remove / listJobIds', () => {
  it('removes worktrees, deletes the branch only when asked, and lists what is left', async () => {
    const [a, b, c] = [newJobId(), newJobId(), newJobId()];
    const wa = await m.ensure({ jobId: a, issueNumber: 31 }, { remoteUrl: fx.remote });
    const wb = await m.ensure({ jobId: b, issueNumber: 32 }, { remoteUrl: fx.remote });
    const wc = await m.ensure({ jobId: c, issueNumber: 33 }, { remoteUrl: fx.remote });
    await fs.writeFile(path.join(wa.path, 'dirty.txt'), 'uncommitted\n');
    await fs.mkdir(path.join(fx.root, 'worktrees', '.not-a-job'), { recursive: true });
    expect(await m.listJobIds()).toEqual(expect.arrayContaining([a, b, c]));

    expect(await m.remove(a)).toEqual({ removed: true, branchDeleted: false }); // dirty: forced
    await expect(fs.stat(wa.path)).rejects.toThrow();
    expect(git(await mirror(), 'rev-parse', '--verify', `refs/heads/${wa.branch}`)).toBe(wa.head); // kept

    expect(await m.remove(b, { deleteBranch: true })).toEqual({ removed: true, branchDeleted: true });
    expect(gitStatus(await mirror(), 'rev-parse', '--verify', '-q', `refs/heads/${wb.branch}`)).toBe(1);

    // The directory vanished on its own: the stale registration is pruned and the branch deleted by name.
    await fs.rm(wc.path, { recursive: true, force: true });
    expect(await m.remove(c, { deleteBranch: true, issueNumber: 33 })).toEqual({ removed: false, branchDeleted: true });
    const listed = git(await mirror(), 'worktree', 'list', '--porcelain');
    for (const w of [wa, wb, wc]) expect(listed).not.toContain(w.path);

    const left = await m.listJobIds();
    expect(left).not.toEqual(expect.arrayContaining([a]));
    expect(left.some((id) => [a, b, c].includes(id) || id.startsWith('.'))).toBe(false);
    // A removed job can be prepared again (here from its kept local branch).
    expect((await m.ensure({ jobId: a, issueNumber: 31 }, { remoteUrl: fx.remote })).head).toBe(wa.head);
  });

  it('operations on a job without a worktree on this host say WORKSPACE_NOT_FOUND', async () => {
    const ws = await m.ensure({ jobId: newJobId(), issueNumber: 41 }, { remoteUrl: fx.remote });
    await m.remove(ws.jobId, { deleteBranch: true });
    const e = await m.resetTo(ws, ws.baseCommit).catch((x: unknown) => x);
    expect(isWorkspaceError(e, 'WORKSPACE_NOT_FOUND')).toBe(true);
    expect(isWorkspaceError(await m.push(ws).catch((x: unknown) => x), 'WORKSPACE_NOT_FOUND')).toBe(true);
    expect(isWorkspaceError(await m.remove('../escape').catch((x: unknown) => x), 'INVALID_ARGUMENT')).toBe(true);
  });
});
