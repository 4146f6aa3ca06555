/**
 * `WorkspaceManager.ensure` against real git: mirror + worktree creation, reuse, repair and every
 * recreation rule (local branch, pushed branch, base commit + restore diffs giving the same sha),
 * concurrency in one process and across two processes.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { branchName, isWorkspaceError, WorkspaceManager, type RestoreCommit } from '../../src/workspaces';
import { IDENTITY, git, gitStatus, makeFixture, newJobId, type Fixture } from './support/git-fixture';

// One remote for the file; each test works under its own workspace root (a fresh host).
let fx: Fixture;
let root: string;
let roots = 0;
beforeAll(async () => {
  fx = await makeFixture();
});
afterAll(async () => {
  await fx.cleanup();
});
beforeEach(() => {
  root = path.join(fx.tmp, `root-${++roots}`);
});

const manager = (r = root) => new WorkspaceManager({ root: r, lockTimeoutMs: 30_000 });
const mainHead = () => git(fx.remote, 'rev-parse', 'refs/heads/main');

async function mirrorDir(root: string): Promise<string> {
  const names = (await fs.readdir(path.join(root, 'mirrors'))).filter((n) => n.endsWith('.git'));
  expect(names).toHaveLength(1);
  return path.join(root, 'mirrors', names[0]);
}

async function agentWrites(ws: { path: string }, files: Record<string, string>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(ws.path, name)), { recursive: true });
    await fs.writeFile(path.join(ws.path, name), content);
  }
}

const commitOpts = (startCommit: string, message = 'aicd: code stage') => ({ ...IDENTITY, startCommit, message, maxDiffBytes: 1_000_000 });

describe('WorkspaceManager.ensure', () => {
  it('creates a bare mirror (not --mirror) and a worktree on the job branch at the default branch head', async () => {
    const jobId = newJobId();
    const head = mainHead();
    const ws = await manager().ensure({ jobId, issueNumber: 42 }, { remoteUrl: fx.remote });

    expect(ws).toEqual({
      jobId,
      path: path.join(root, 'worktrees', jobId),
      branch: `aicd/42-${jobId.slice(0, 8)}`,
      baseBranch: 'main',
      baseCommit: head,
      head,
      remoteUrl: fx.remote,
    });
    expect(ws.branch).toBe(branchName(42, jobId));
    expect(git(ws.path, 'symbolic-ref', 'HEAD')).toBe(`refs/heads/${ws.branch}`);
    expect(await fs.readFile(path.join(ws.path, 'src/index.ts'), 'utf8')).toBe('export const a = 1;\n');

    const mirror = await mirrorDir(root);
    expect(git(mirror, 'rev-parse', '--is-bare-repository')).toBe('true');
    expect(git(mirror, 'config', '--get-all', 'remote.origin.fetch')).toBe('+refs/heads/*:refs/remotes/origin/*');
    expect(gitStatus(mirror, 'config', '--get', 'remote.origin.mirror')).toBe(1);
    expect(git(mirror, 'rev-parse', 'refs/remotes/origin/main')).toBe(head);
    expect(git(mirror, 'symbolic-ref', 'refs/remotes/origin/HEAD')).toBe('refs/remotes/origin/main');
  });

  it('reuses an existing worktree as is, keeps the recorded base commit, and local job branches survive fetch --prune', async () => {
    const m = manager();
    const job = { jobId: newJobId(), issueNumber: 7 };
    const first = await m.ensure(job, { remoteUrl: fx.remote });
    await agentWrites(first, { 'scratch.txt': 'work in progress\n' });
    const committed = await m.commitChanges(first, commitOpts(first.baseCommit));
    await agentWrites(first, { 'uncommitted.txt': 'still here\n' });
    const newMain = await fx.upstreamCommit({ 'upstream.txt': 'moved on\n' });

    const again = await m.ensure(job, { remoteUrl: fx.remote });
    expect(again).toEqual({ ...first, head: committed.sha });
    expect(await fs.readFile(path.join(again.path, 'uncommitted.txt'), 'utf8')).toBe('still here\n');
    const mirror = await mirrorDir(root);
    expect(git(mirror, 'rev-parse', 'refs/remotes/origin/main')).toBe(newMain); // fetched
    expect(git(mirror, 'rev-parse', `refs/heads/${first.branch}`)).toBe(committed.sha); // not pruned

    // A new job starts from the new head of main.
    const other = await m.ensure({ jobId: newJobId(), issueNumber: 8 }, { remoteUrl: fx.remote });
    expect(other.baseCommit).toBe(newMain);
  });

  it('repairs: HEAD moved off the branch is put back, a wrong back link is repaired, a directory that is no worktree is replaced', async () => {
    const m = manager();
    const job = { jobId: newJobId(), issueNumber: 3 };
    const ws = await m.ensure(job, { remoteUrl: fx.remote });
    git(ws.path, 'checkout', '-q', '--detach', 'HEAD~1');
    expect((await m.ensure(job, { remoteUrl: fx.remote })).head).toBe(ws.head);
    expect(git(ws.path, 'symbolic-ref', 'HEAD')).toBe(`refs/heads/${ws.branch}`);

    // The mirror's link back to the worktree is wrong: `git worktree repair`, uncommitted work kept.
    const admin = git(ws.path, 'rev-parse', '--path-format=absolute', '--git-dir');
    await fs.writeFile(path.join(admin, 'gitdir'), '/nowhere/.git\n');
    await agentWrites(ws, { 'wip.txt': 'kept\n' });
    expect((await m.ensure(job, { remoteUrl: fx.remote })).head).toBe(ws.head);
    expect((await fs.readFile(path.join(admin, 'gitdir'), 'utf8')).trim()).toBe(path.join(ws.path, '.git'));
    expect(await fs.readFile(path.join(ws.path, 'wip.txt'), 'utf8')).toBe('kept\n');

    await fs.rm(ws.path, { recursive: true, force: true });
    await fs.mkdir(ws.path);
    await fs.writeFile(path.join(ws.path, 'junk'), 'not a worktree');
    const repaired = await m.ensure(job, { remoteUrl: fx.remote });
    expect(repaired.head).toBe(ws.head);
    await expect(fs.stat(path.join(ws.path, 'junk'))).rejects.toThrow();
    expect(git(ws.path, 'symbolic-ref', 'HEAD')).toBe(`refs/heads/${ws.branch}`);
  });

  it('recreates a deleted worktree from the local branch in the mirror', async () => {
    const m = manager();
    const job = { jobId: newJobId(), issueNumber: 5 };
    const ws = await m.ensure(job, { remoteUrl: fx.remote });
    await agentWrites(ws, { 'feature.ts': 'export const f = 1;\n' });
    const c = await m.commitChanges(ws, commitOpts(ws.baseCommit));
    await fs.rm(ws.path, { recursive: true, force: true }); // the directory only; the mirror keeps the branch

    const again = await m.ensure(job, { remoteUrl: fx.remote, baseCommit: ws.baseCommit });
    expect(again.head).toBe(c.sha);
    expect(await fs.readFile(path.join(again.path, 'feature.ts'), 'utf8')).toBe('export const f = 1;\n');
  });

  it('recreates from the pushed branch after the whole workspace root is deleted (another host)', async () => {
    const job = { jobId: newJobId(), issueNumber: 11 };
    const ws = await manager().ensure(job, { remoteUrl: fx.remote });
    await agentWrites(ws, { 'pushed.ts': 'export const p = 1;\n' });
    const c = await manager().commitChanges(ws, commitOpts(ws.baseCommit));
    await manager().push(ws);
    await fx.upstreamCommit({ 'later.txt': 'main moved\n' });
    await fs.rm(root, { recursive: true, force: true });

    const again = await manager().ensure(job, { remoteUrl: fx.remote });
    expect(again.head).toBe(c.sha);
    expect(again.baseCommit).toBe(ws.baseCommit); // from merge-base with origin/main: no base commit given
    expect(git(await mirrorDir(root), 'rev-parse', `refs/heads/${ws.branch}`)).toBe(c.sha);
  });

  it('rebuilds unpushed commits from base commit + restore diffs with the SAME shas', async () => {
    const job = { jobId: newJobId(), issueNumber: 12 };
    const ws = await manager().ensure(job, { remoteUrl: fx.remote });
    await agentWrites(ws, { 'a.txt': 'one\n', 'src/index.ts': 'export const a = 2;\n' });
    await fs.writeFile(path.join(ws.path, 'bin.dat'), Buffer.from([0, 1, 2, 255, 0, 10]));
    await fs.symlink('a.txt', path.join(ws.path, 'link-to-a'));
    const first = await manager().commitChanges(ws, commitOpts(ws.baseCommit, 'round 1\n\nwith a body'));
    await fs.rm(path.join(ws.path, 'src/util.ts'));
    await fs.rename(path.join(ws.path, 'a.txt'), path.join(ws.path, 'b.txt'));
    await fs.chmod(path.join(ws.path, 'README.md'), 0o755);
    const second = await manager().commitChanges(ws, { ...commitOpts(first.sha, 'round 2'), date: '2026-01-03T00:00:00Z' });
    const record = (c: typeof first, message: string, date = IDENTITY.date): RestoreCommit => ({ commit: c.sha, diff: c.diff, message, ...IDENTITY, date });
    const chain = [record(first, 'round 1\n\nwith a body'), record(second, 'round 2', '2026-01-03T00:00:00Z')];
    expect(gitStatus(fx.remote, 'rev-parse', '--verify', '-q', `refs/heads/${ws.branch}`)).not.toBe(0); // never pushed
    await fs.rm(root, { recursive: true, force: true });

    const onlyFirst = await manager().ensure(job, { remoteUrl: fx.remote, baseCommit: ws.baseCommit, restore: chain[0] });
    expect(onlyFirst.head).toBe(first.sha);
    expect(await fs.readlink(path.join(onlyFirst.path, 'link-to-a'))).toBe('a.txt');
    const both = await manager().ensure(job, { remoteUrl: fx.remote, baseCommit: ws.baseCommit, restore: chain });
    expect(both.head).toBe(second.sha);
    expect(await fs.readFile(path.join(both.path, 'bin.dat'))).toEqual(Buffer.from([0, 1, 2, 255, 0, 10]));
    expect(git(both.path, 'status', '--porcelain')).toBe('');

    // A record that does not match (another message) is detected, not silently accepted.
    await fs.rm(root, { recursive: true, force: true });
    const bad = [{ ...chain[0], message: 'round 1, edited' }];
    const err = await manager().ensure(job, { remoteUrl: fx.remote, baseCommit: ws.baseCommit, restore: bad }).catch((e: unknown) => e);
    expect(isWorkspaceError(err, 'RESTORE_MISMATCH')).toBe(true);
    expect(git(path.join(root, 'worktrees', job.jobId), 'rev-parse', 'HEAD')).toBe(ws.baseCommit); // put back on the parent
  });

  it('catches up a worktree left behind on this host by stages that ran elsewhere', async () => {
    const job = { jobId: newJobId(), issueNumber: 13 };
    const hostA = manager(path.join(fx.tmp, 'hostA'));
    const hostB = manager(path.join(fx.tmp, 'hostB'));
    const a = await hostA.ensure(job, { remoteUrl: fx.remote });
    await agentWrites(a, { 'one.txt': '1\n' });
    const c1 = await hostA.commitChanges(a, commitOpts(a.baseCommit, 'c1'));
    const r1: RestoreCommit = { commit: c1.sha, diff: c1.diff, message: 'c1', ...IDENTITY };

    const b = await hostB.ensure(job, { remoteUrl: fx.remote, baseCommit: a.baseCommit, restore: [r1] });
    expect(b.head).toBe(c1.sha);
    await agentWrites(b, { 'two.txt': '2\n' });
    const c2 = await hostB.commitChanges(b, commitOpts(c1.sha, 'c2'));
    const r2: RestoreCommit = { commit: c2.sha, diff: c2.diff, message: 'c2', ...IDENTITY };

    await agentWrites(a, { 'leftover.txt': 'from a failed attempt\n' });
    const back = await hostA.ensure(job, { remoteUrl: fx.remote, baseCommit: a.baseCommit, restore: [r1, r2] });
    expect(back.head).toBe(c2.sha);
    expect(back.path).toBe(a.path);
    await expect(fs.stat(path.join(a.path, 'leftover.txt'))).rejects.toThrow();
  });

  it('honours a configured base branch and a recorded base commit; refuses an unknown commit and an empty remote', async () => {
    git(fx.source, 'checkout', '-q', '-b', 'develop');
    await fs.writeFile(path.join(fx.source, 'dev.txt'), 'dev\n');
    git(fx.source, 'add', '-A');
    git(fx.source, 'commit', '-q', '-m', 'dev');
    git(fx.source, 'push', '-q', 'origin', 'develop');
    const developHead = git(fx.source, 'rev-parse', 'HEAD');
    git(fx.source, 'checkout', '-q', 'main');
    const m = manager();
    const dev = await m.ensure({ jobId: newJobId(), issueNumber: 1 }, { remoteUrl: fx.remote, baseBranch: 'develop' });
    expect([dev.baseBranch, dev.baseCommit]).toEqual(['develop', developHead]);

    const older = git(fx.remote, 'rev-parse', 'main~1');
    const pinned = await m.ensure({ jobId: newJobId(), issueNumber: 2 }, { remoteUrl: fx.remote, baseCommit: older });
    expect([pinned.baseCommit, pinned.head]).toEqual([older, older]);

    const unknown = await m.ensure({ jobId: newJobId(), issueNumber: 3 }, { remoteUrl: fx.remote, baseCommit: 'f'.repeat(40) }).catch((e: unknown) => e);
    expect(isWorkspaceError(unknown, 'COMMIT_NOT_FOUND')).toBe(true);
    expect(isWorkspaceError(await m.ensure({ jobId: newJobId(), issueNumber: 4 }, { remoteUrl: fx.remote, baseBranch: 'nope' }).catch((e: unknown) => e), 'BASE_BRANCH_NOT_FOUND')).toBe(true);

    const empty = path.join(fx.tmp, 'remotes', 'empty.git');
    git(fx.tmp, 'init', '-q', '--bare', '-b', 'main', empty);
    const e = await m.ensure({ jobId: newJobId(), issueNumber: 5 }, { remoteUrl: empty }).catch((x: unknown) => x);
    expect(isWorkspaceError(e, 'REMOTE_HEAD_UNKNOWN')).toBe(true);
    expect((e as { permanent: boolean }).permanent).toBe(true);
  });

  it('prepares 3 jobs of one repository concurrently in one process without lock errors', async () => {
    const commands: string[] = [];
    // Separate instances share the root and its locks.
    const managers = [1, 2, 3].map(() => new WorkspaceManager({ root, lockTimeoutMs: 30_000, onGitCommand: (r) => void commands.push(r.argv.join(' ')) }));
    const jobs = [1, 2, 3].map((n) => ({ jobId: newJobId(), issueNumber: n }));
    const head = mainHead();
    const all = await Promise.all(jobs.map((job, i) => managers[i].ensure(job, { remoteUrl: fx.remote })));
    expect(all.map((w) => w.head)).toEqual([head, head, head]);
    expect(new Set(all.map((w) => w.branch)).size).toBe(3);
    // Fetches are coalesced: callers that waited while another fetched skip their own.
    expect(commands.filter((c) => / fetch --prune /.test(c)).length).toBeLessThan(3);
    expect(await manager().listJobIds()).toEqual(jobs.map((j) => j.jobId).sort());
    const listed = git(await mirrorDir(root), 'worktree', 'list', '--porcelain');
    for (const w of all) expect(listed).toContain(`worktree ${w.path}`);
  });

  it('prepares jobs of one repository from two processes at once', async () => {
    const worker = path.join(__dirname, 'support', 'ensure-worker.ts');
    const ids = [newJobId(), newJobId(), newJobId(), newJobId()];
    const run = (jobIds: string[]) =>
      new Promise<string>((resolve, reject) => {
        // ts-node (transpile only): Node ≥ 20.19 loads the ESM-only execa with require(esm).
        const args = ['-r', 'ts-node/register/transpile-only', worker, root, fx.remote, ...jobIds];
        execFile(process.execPath, args, { timeout: 40_000, killSignal: 'SIGKILL' }, (err, stdout, stderr) =>
          err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
        );
      });
    const head = mainHead();
    const outputs = await Promise.all([run(ids.slice(0, 2)), run(ids.slice(2))]);
    const heads = outputs.flatMap((o) => JSON.parse(o.trim().split('\n').pop() as string) as string[]);
    expect(heads).toEqual([head, head, head, head]);
    expect(await manager().listJobIds()).toEqual([...ids].sort());
  }, 60_000);
});
