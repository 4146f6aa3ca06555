/**
 * Real git repositories for the workspace tests: a source repository with a few commits, pushed
 * to a local BARE remote (`git init --bare -b main`), all under one temp directory per test file.
 * Git here runs with the host's configuration ignored, like the module under test.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const TEST_GIT_ENV: Record<string, string> = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: os.tmpdir(),
  LC_ALL: 'C',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'Fixture',
  GIT_AUTHOR_EMAIL: 'fixture@example.invalid',
  GIT_COMMITTER_NAME: 'Fixture',
  GIT_COMMITTER_EMAIL: 'fixture@example.invalid',
};

/** Runs git synchronously in `cwd`; returns trimmed stdout. Throws on a non-zero exit. */
export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: TEST_GIT_ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** Like {@link git} but returns the exit code instead of throwing. */
export function gitStatus(cwd: string, ...args: string[]): number {
  try {
    execFileSync('git', args, { cwd, env: TEST_GIT_ENV, stdio: 'ignore' });
    return 0;
  } catch (e) {
    return (e as { status?: number }).status ?? -1;
  }
}

/** The commit identity the tests commit with. */
export const IDENTITY = { authorName: 'aicd bot', authorEmail: 'bot@aicd.invalid', date: '2026-01-02T03:04:05.678Z' };

export interface Fixture {
  tmp: string;
  /** Working repository the "upstream" commits are made in. */
  source: string;
  /** Bare remote (`<tmp>/remotes/repo.git`). */
  remote: string;
  /** A workspace root for the manager. */
  root: string;
  /** The remote's main head after setup. */
  mainHead: string;
  /** Commits `files` on main in the source and pushes them; returns the new head. */
  upstreamCommit(files: Record<string, string>, message?: string): Promise<string>;
  cleanup(): Promise<void>;
}

export async function makeFixture(): Promise<Fixture> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'aicd-ws-'));
  const source = path.join(tmp, 'source');
  const remote = path.join(tmp, 'remotes', 'repo.git');
  await fs.mkdir(path.dirname(remote), { recursive: true });
  git(tmp, 'init', '-q', '-b', 'main', source);
  git(tmp, 'init', '-q', '--bare', '-b', 'main', remote);
  git(source, 'remote', 'add', 'origin', remote);
  const upstreamCommit = async (files: Record<string, string>, message = 'upstream change') => {
    for (const [name, content] of Object.entries(files)) {
      await fs.mkdir(path.dirname(path.join(source, name)), { recursive: true });
      await fs.writeFile(path.join(source, name), content);
    }
    git(source, 'add', '-A');
    git(source, 'commit', '-q', '-m', message);
    git(source, 'push', '-q', 'origin', 'main');
    return git(source, 'rev-parse', 'HEAD');
  };
  await upstreamCommit({ 'README.md': '# demo\n', '.gitignore': 'node_modules/\n*.log\n' }, 'initial');
  const mainHead = await upstreamCommit({ 'src/index.ts': 'export const a = 1;\n', 'src/util.ts': 'export const u = 1;\n' }, 'second');
  return {
    tmp,
    source,
    remote,
    root: path.join(tmp, 'root'),
    mainHead,
    upstreamCommit,
    cleanup: () => fs.rm(tmp, { recursive: true, force: true }),
  };
}

/** A fresh job id (a UUID, like the service's). */
export function newJobId(): string {
  return randomUUID();
}
