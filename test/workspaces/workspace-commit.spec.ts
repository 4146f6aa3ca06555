/**
 * Orchestrator-side commits, resets and size limits against real git: folding the agent's own
 * commits, `.gitignore`, identity independent of host config and hooks, refusal of paths that
 * escape the worktree, NO_CHANGES, DIFF_TOO_LARGE, WORKSPACE_TOO_LARGE, `resetTo`.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { isWorkspaceError, WorkspaceManager, type Workspace, type WorkspaceError } from '../../src/workspaces';
import { IDENTITY, git, gitStatus, makeFixture, newJobId, type Fixture } from './support/git-fixture';

let fx: Fixture;
let m: WorkspaceManager;
let ws: Workspace;
beforeAll(async () => {
  fx = await makeFixture();
  m = new WorkspaceManager({ root: fx.root });
});
afterAll(async () => {
  await fx.cleanup();
});
beforeEach(async () => {
  ws = await m.ensure({ jobId: newJobId(), issueNumber: 9 }, { remoteUrl: fx.remote });
});

const write = async (name: string, content: string | Buffer) => {
  await fs.mkdir(path.dirname(path.join(ws.path, name)), { recursive: true });
  await fs.writeFile(path.join(ws.path, name), content);
};
const opts = (over: Partial<Parameters<WorkspaceManager['commitChanges']>[1]> = {}) => ({
  ...IDENTITY,
  startCommit: ws.baseCommit,
  message: 'aicd: implement #9',
  maxDiffBytes: 1_000_000,
  ...over,
});
const refusal = async (p: Promise<unknown>): Promise<WorkspaceError> => {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  if (!isWorkspaceError(e)) throw new Error(`expected a WorkspaceError, got ${String(e)}`);
  return e;
};
const indexIsClean = () => gitStatus(ws.path, 'diff', '--cached', '--quiet') === 0;

describe('WorkspaceManager.commitChanges', () => {
  it('folds the agent commits into one commit with our identity, lists files, diff and stat', async () => {
    await write('src/index.ts', 'export const a = 2;\nexport const b = 3;\n');
    await write('src/new.ts', 'export const n = 1;\n');
    await fs.rm(path.join(ws.path, 'README.md'));
    await fs.rename(path.join(ws.path, 'src/util.ts'), path.join(ws.path, 'src/helpers.ts'));
    // The agent commits some of it itself, with its own identity.
    git(ws.path, 'add', 'src/new.ts');
    git(ws.path, 'commit', '-q', '-m', 'agent wip');

    const r = await m.commitChanges(ws, opts({ message: 'aicd: implement #9\n\nbody line' }));

    expect(git(ws.path, 'rev-parse', 'HEAD')).toBe(r.sha);
    expect(git(ws.path, 'rev-parse', `${r.sha}^`)).toBe(ws.baseCommit); // one commit on top of the start
    expect(git(ws.path, 'log', '-1', '--format=%an|%ae|%at|%cn|%ce|%ct')).toBe(
      `aicd bot|bot@aicd.invalid|1767323045|aicd bot|bot@aicd.invalid|1767323045`,
    );
    expect(git(ws.path, 'log', '-1', '--format=%B')).toBe('aicd: implement #9\n\nbody line');
    expect(git(ws.path, 'cat-file', 'commit', r.sha)).not.toContain('gpgsig');
    expect([...r.files].sort((a, b) => a.path.localeCompare(b.path))).toEqual([
      { path: 'README.md', status: 'deleted', additions: 0, deletions: 1, binary: false },
      { path: 'src/helpers.ts', previousPath: 'src/util.ts', status: 'renamed', additions: 0, deletions: 0, binary: false },
      { path: 'src/index.ts', status: 'modified', additions: 2, deletions: 1, binary: false },
      { path: 'src/new.ts', status: 'added', additions: 1, deletions: 0, binary: false },
    ]);
    expect(r.diff).toContain('+export const b = 3;');
    expect(r.diff).toContain('rename from src/util.ts');
    expect(r.diffBytes).toBe(Buffer.byteLength(r.diff));
    expect(r.restorable).toBe(true);
    expect(r.stat).toMatch(/4 files changed, 3 insertions\(\+\), 2 deletions\(-\)/);
    expect(git(ws.path, 'status', '--porcelain')).toBe('');
  });

  it('honours .gitignore, even for a file the agent force-added and committed', async () => {
    await write('node_modules/dep/index.js', 'module.exports = 1;\n');
    await write('debug.log', 'noise\n');
    await write('src/kept.ts', 'export const k = 1;\n');
    git(ws.path, 'add', '-f', 'debug.log');
    git(ws.path, 'commit', '-q', '-m', 'agent force-added an ignored file');

    const r = await m.commitChanges(ws, opts());
    expect(r.files.map((f) => f.path)).toEqual(['src/kept.ts']);
    expect(git(ws.path, 'ls-tree', '-r', '--name-only', r.sha)).not.toMatch(/debug\.log|node_modules/);
    expect(await fs.readFile(path.join(ws.path, 'debug.log'), 'utf8')).toBe('noise\n'); // still on disk
  });

  it('runs no hook and ignores a hooks path set in the repository config', async () => {
    const mirror = git(ws.path, 'rev-parse', '--path-format=absolute', '--git-common-dir');
    const marker = path.join(fx.tmp, 'hook-ran');
    const hook = `#!/bin/sh\necho ran >> ${marker}\nexit 1\n`;
    const hooksDir = path.join(fx.tmp, 'evil-hooks');
    await fs.mkdir(hooksDir, { recursive: true });
    for (const name of ['pre-commit', 'commit-msg', 'post-commit', 'prepare-commit-msg']) {
      await fs.writeFile(path.join(mirror, 'hooks', name), hook, { mode: 0o755 });
      await fs.writeFile(path.join(hooksDir, name), hook, { mode: 0o755 });
    }
    git(mirror, 'config', 'core.hooksPath', hooksDir);
    git(mirror, 'config', 'commit.gpgSign', 'true');
    try {
      await write('hooked.txt', 'x\n');
      const r = await m.commitChanges(ws, opts());
      expect(git(ws.path, 'rev-parse', 'HEAD')).toBe(r.sha);
      await expect(fs.stat(marker)).rejects.toThrow();
    } finally {
      git(mirror, 'config', '--unset', 'core.hooksPath');
      git(mirror, 'config', '--unset', 'commit.gpgSign');
      for (const name of ['pre-commit', 'commit-msg', 'post-commit', 'prepare-commit-msg']) await fs.rm(path.join(mirror, 'hooks', name));
    }
  });

  it.each([
    ['a symlink to /etc/passwd', 'passwd-link', async () => fs.symlink('/etc/passwd', path.join(ws.path, 'passwd-link'))],
    ['a symlinked directory outside', 'etc-dir', async () => fs.symlink('/etc', path.join(ws.path, 'etc-dir'))],
    ['a relative symlink climbing out', 'sub/up', async () => (await write('sub/x', 'x'), fs.symlink('../../..', path.join(ws.path, 'sub/up')))],
    ['a symlink into .git', 'git-link', async () => fs.symlink('.git', path.join(ws.path, 'git-link'))],
    [
      'a symlink chained through a symlinked directory',
      'via/inner',
      async () => (await fs.symlink('/tmp', path.join(ws.path, 'out')), await fs.mkdir(path.join(ws.path, 'via')), fs.symlink('../out/x', path.join(ws.path, 'via/inner'))),
    ],
  ])('refuses %s (PATH_OUTSIDE_WORKSPACE) and leaves the index clean', async (_label, named, make) => {
    await write('legit.ts', 'export const ok = 1;\n');
    await make();
    const e = await refusal(m.commitChanges(ws, opts()));
    expect(e.code).toBe('PATH_OUTSIDE_WORKSPACE');
    expect(e.permanent).toBe(true);
    expect([named, 'out']).toContain(e.details.path);
    expect(e.message).toContain(JSON.stringify(e.details.path));
    expect(indexIsClean()).toBe(true);
    expect(git(ws.path, 'rev-parse', 'HEAD')).toBe(ws.baseCommit);
  });

  it('accepts a symlink that stays inside the worktree', async () => {
    await fs.symlink('src/index.ts', path.join(ws.path, 'alias.ts'));
    const r = await m.commitChanges(ws, opts());
    expect(r.files).toEqual([{ path: 'alias.ts', status: 'added', additions: 1, deletions: 0, binary: false }]);
    expect(git(ws.path, 'ls-tree', r.sha, 'alias.ts')).toMatch(/^120000 /);
  });

  it('refuses a nested repository (EMBEDDED_REPOSITORY)', async () => {
    git(ws.path, 'init', '-q', 'nested');
    await fs.writeFile(path.join(ws.path, 'nested/f'), 'f');
    git(path.join(ws.path, 'nested'), 'add', 'f');
    git(path.join(ws.path, 'nested'), 'commit', '-q', '-m', 'n');
    const e = await refusal(m.commitChanges(ws, opts()));
    expect([e.code, e.details.path]).toEqual(['EMBEDDED_REPOSITORY', 'nested']);
    expect(indexIsClean()).toBe(true);
  });

  it('NO_CHANGES when nothing (or only ignored files) changed', async () => {
    await write('build.log', 'ignored\n');
    const e = await refusal(m.commitChanges(ws, opts()));
    expect([e.code, e.permanent]).toEqual(['NO_CHANGES', true]);
    // An agent commit that a later edit reverted is no change either.
    await write('tmp.txt', 'x');
    git(ws.path, 'add', 'tmp.txt');
    git(ws.path, 'commit', '-q', '-m', 'agent');
    await fs.rm(path.join(ws.path, 'tmp.txt'));
    expect((await refusal(m.commitChanges(ws, opts()))).code).toBe('NO_CHANGES');
    expect(git(ws.path, 'rev-parse', 'HEAD')).toBe(ws.baseCommit);
  });

  it('DIFF_TOO_LARGE with the size and the limit; index reset, working tree kept', async () => {
    await write('big.txt', 'line of text\n'.repeat(1000));
    const e = await refusal(m.commitChanges(ws, opts({ maxDiffBytes: 4096 })));
    expect(e.code).toBe('DIFF_TOO_LARGE');
    expect(e.details.maxDiffBytes).toBe(4096);
    expect(e.details.diffBytes).toBeGreaterThan(13_000);
    expect(e.message).toMatch(/\d+ bytes, over the limit of 4096 bytes/);
    expect(indexIsClean()).toBe(true);
    expect((await fs.stat(path.join(ws.path, 'big.txt'))).size).toBe(13_000);
    // Under a large enough limit the same change commits.
    expect((await m.commitChanges(ws, opts({ maxDiffBytes: 100_000 }))).files).toHaveLength(1);
  });

  it('rejects bad arguments before touching the worktree', async () => {
    await write('x.txt', 'x');
    for (const bad of [{ startCommit: 'HEAD' }, { message: '  ' }, { maxDiffBytes: 0 }, { authorEmail: 'a>b' }, { date: 'yesterday' }]) {
      expect((await refusal(m.commitChanges(ws, opts(bad)))).code).toBe('INVALID_ARGUMENT');
    }
    expect((await refusal(m.commitChanges(ws, opts({ startCommit: 'e'.repeat(40) })))).code).toBe('COMMIT_NOT_FOUND');
  });
});

describe('WorkspaceManager.resetTo and size limits', () => {
  it('resetTo restores the committed state, removes untracked files, keeps ignored ones', async () => {
    await write('src/feature.ts', 'export const f = 1;\n');
    const c = await m.commitChanges(ws, opts());
    await write('src/feature.ts', 'broken by a failed attempt\n');
    await write('stray.txt', 'untracked\n');
    await write('node_modules/dep/index.js', 'kept\n');
    git(ws.path, 'checkout', '-q', '--detach');

    expect(await m.resetTo(ws, c.sha)).toBe(c.sha);
    expect(git(ws.path, 'symbolic-ref', 'HEAD')).toBe(`refs/heads/${ws.branch}`);
    expect(await fs.readFile(path.join(ws.path, 'src/feature.ts'), 'utf8')).toBe('export const f = 1;\n');
    await expect(fs.stat(path.join(ws.path, 'stray.txt'))).rejects.toThrow();
    expect(await fs.readFile(path.join(ws.path, 'node_modules/dep/index.js'), 'utf8')).toBe('kept\n');
    expect((await refusal(m.resetTo(ws, 'a'.repeat(40)))).code).toBe('COMMIT_NOT_FOUND');
  });

  it('sizeBytes counts the worktree only; assertWithinLimit throws WORKSPACE_TOO_LARGE', async () => {
    const before = await m.sizeBytes(ws);
    await write('blob.bin', Buffer.alloc(200_000, 1));
    expect((await m.sizeBytes(ws)) - before).toBe(200_000);
    expect(before).toBeLessThan(10_000); // the mirror (objects, packs) is not counted
    await expect(m.assertWithinLimit(ws, 1_000_000)).resolves.toBeUndefined();
    const e = await refusal(m.assertWithinLimit(ws, 100_000));
    expect([e.code, e.permanent, e.details.maxBytes]).toEqual(['WORKSPACE_TOO_LARGE', true, 100_000]);
    expect(e.details.sizeBytes).toBeGreaterThan(100_000);
  });
});
