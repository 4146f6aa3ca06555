import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

/** The pristine google/uuid v1.6.0 module source (see test/fixtures/repos/PROVENANCE.md). */
export const UUID_SOURCE = path.resolve(__dirname, '..', '..', 'test', 'fixtures', 'repos', 'google-uuid');

/** The line `UUID.Version()` has in v1.6.0, the broken one, a wrong fix and the right fix. */
export const VERSION_LINES = {
  original: 'return Version(uuid[6] >> 4)',
  broken: 'return Version(uuid[6] & 0x0f)',
  wrongFix: 'return Version(uuid[6] >> 3)',
  rightFix: 'return Version(uuid[6] >> 4)',
};

/** A fixture repository on disk: a bare remote under `remotes/<owner>/<name>.git`. */
export interface FixtureRepo {
  /** Temp root (remove with `cleanup`). */
  root: string;
  /** `owner/name` of the repository. */
  repositoryId: string;
  /** The bare remote's path. */
  bare: string;
  /** GIT_URL_TEMPLATE that resolves `repositoryId` to the bare remote. */
  urlTemplate: string;
  /** The remote's default branch and its head commit (the broken one). */
  branch: string;
  head: string;
  cleanup(): void;
}

const GIT_ENV = {
  ...process.env,
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_AUTHOR_NAME: 'Fixture',
  GIT_AUTHOR_EMAIL: 'fixture@example.test',
  GIT_COMMITTER_NAME: 'Fixture',
  GIT_COMMITTER_EMAIL: 'fixture@example.test',
  GIT_AUTHOR_DATE: '2026-01-01T00:00:00Z',
  GIT_COMMITTER_DATE: '2026-01-01T00:00:00Z',
};

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/**
 * google/uuid v1.6.0 imported into a fresh git repository (commit 1), then broken in commit 2:
 * `UUID.Version()` reads the low nibble of byte 6 (its own tests fail: TestVersion, TestNew…),
 * pushed to a local bare remote `remotes/google/uuid.git` on branch `main`.
 */
export function createUuidFixture(rootDir?: string): FixtureRepo {
  const root = rootDir ?? mkdtempSync(path.join(tmpdir(), 'aicd-fixture-'));
  const work = path.join(root, 'work');
  const bare = path.join(root, 'remotes', 'google', 'uuid.git');
  mkdirSync(path.dirname(bare), { recursive: true });
  cpSync(UUID_SOURCE, work, { recursive: true });
  git(work, 'init', '--quiet', '--initial-branch=main');
  git(work, 'add', '-A');
  git(work, 'commit', '--quiet', '-m', 'Import github.com/google/uuid v1.6.0');
  const file = path.join(work, 'uuid.go');
  const text = readFileSync(file, 'utf8');
  if (!text.includes(VERSION_LINES.original)) throw new Error(`uuid.go does not contain ${VERSION_LINES.original}`);
  writeFileSync(file, text.replace(VERSION_LINES.original, VERSION_LINES.broken));
  git(work, 'commit', '--quiet', '-am', 'Break UUID.Version(): read the low nibble');
  git(root, 'init', '--quiet', '--bare', '--initial-branch=main', bare);
  git(work, 'push', '--quiet', bare, 'main:main');
  return {
    root,
    repositoryId: 'google/uuid',
    bare,
    urlTemplate: `file://${path.join(root, 'remotes')}/{repository}.git`,
    branch: 'main',
    head: git(work, 'rev-parse', 'HEAD'),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

/**
 * The fake-agent script (test/fixtures/fake-cli/fake-agent.js) for the uuid fix: a plan; on the
 * first coding round a wrong fix; once the review's feedback is in the prompt, the right one.
 */
export function uuidFixScript(extra: Record<string, unknown> = {}): string {
  const script = {
    usage: { input: 1200, output: 300, costUsd: 0.01 },
    ...extra,
    variants: [
      {
        when: 'this is the planning step',
        message: 'UUID.Version() masks the low nibble of byte 6, but the version is in the high nibble.\n\n- Make Version() shift byte 6 right by 4\n- Run the tests',
      },
      { when: 'Review round 2', edits: [{ path: 'uuid.go', replace: VERSION_LINES.wrongFix, with: VERSION_LINES.rightFix }], message: 'Shift by 4, as the RFC layout says.' },
      { when: 'You are changing', edits: [{ path: 'uuid.go', replace: VERSION_LINES.broken, with: VERSION_LINES.wrongFix }], message: 'Shift byte 6 right.' },
    ],
  };
  return `\`\`\`fake-agent\n${JSON.stringify(script)}\n\`\`\``;
}

/** The fake CLI's path (executable). */
export const FAKE_AGENT = path.resolve(__dirname, '..', '..', 'test', 'fixtures', 'fake-cli', 'fake-agent.js');
