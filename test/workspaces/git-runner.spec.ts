/**
 * The git subprocess boundary, with a fake `git` (a shell script that records its environment and
 * arguments): minimal environment, stdin closed, safety `-c` options, token only for network
 * commands, redaction of a token echoed in stderr, AbortSignal and timeout killing the whole
 * process group and removing the lock files the killed git left.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GitRunner, type GitRunnerConfig } from '../../src/workspaces/git-runner';
import { isWorkspaceError, type GitCommandRecord, type WorkspaceError } from '../../src/workspaces';

const SECRET = 'ghs_s3cr3t_t0ken_value_1234';
let dir: string;
let fakeGit: string;
const records: GitCommandRecord[] = [];
const logs: string[] = [];

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'aicd-git-runner-'));
  fakeGit = path.join(dir, 'fake-git');
  await fs.writeFile(
    fakeGit,
    `#!/bin/sh
env > "${dir}/env.last"
printf '%s\\n' "$@" > "${dir}/args.last"
case "$*" in
  *sleep-forever*) sleep 30 & echo $! > "${dir}/grandchild.pid"; wait ;;
  *echo-secret*) echo "fatal: unable to access 'https://x-access-token:$AICD_GIT_TOKEN@example.com/r.git/': The requested URL returned error: 500" >&2; exit 128 ;;
  *make-mirror-locks*) touch "${dir}/m.git/packed-refs.lock" "${dir}/m.git/refs/remotes/origin/main.lock"; sleep 30 & wait ;;
  *make-worktree-locks*) touch "${dir}/m.git/worktrees/j/index.lock" "${dir}/m.git/refs/heads/aicd/1-x.lock"; sleep 30 & wait ;;
  *read-stdin*) if read line; then echo "got:$line"; else echo eof; fi ;;
  *fail*) echo "some failure" >&2; exit 3 ;;
esac
`,
    { mode: 0o755 },
  );
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

function runner(over: Partial<GitRunnerConfig> = {}): GitRunner {
  return new GitRunner({
    gitBinary: fakeGit,
    timeoutMs: 20_000,
    networkTimeoutMs: 20_000,
    askpass: async () => '/path/to/askpass.sh',
    token: async () => SECRET,
    passEnv: ['AICD_TEST_PASSED'],
    networkEnv: { GIT_SSL_CAINFO: '/ca.pem' },
    logger: { debug: (m) => void logs.push(m), warn: (m) => void logs.push(m) },
    onCommand: (r) => void records.push(r),
    ...over,
  });
}

async function envOfLastRun(): Promise<Record<string, string>> {
  const lines = (await fs.readFile(path.join(dir, 'env.last'), 'utf8')).split('\n').filter(Boolean);
  const shellOwn = new Set(['PWD', 'OLDPWD', 'SHLVL', '_']);
  return Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]).filter(([k]) => !shellOwn.has(k)));
}

/** True while `pid` runs (a zombie waiting for init to reap it counts as gone). */
async function isAlive(pid: number): Promise<boolean> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (stat === null) return false;
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}

const failure = async (p: Promise<unknown>): Promise<WorkspaceError> => {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  if (!isWorkspaceError(e)) throw new Error(`expected a WorkspaceError, got ${String(e)}`);
  return e;
};

describe('GitRunner', () => {
  beforeAll(() => {
    process.env.AICD_TEST_LEAK = 'must-not-reach-git';
    process.env.AICD_TEST_PASSED = 'passed-to-network-commands';
    process.env.GIT_DIR = '/somewhere/else'; // a stray variable of the worker must not redirect git
  });
  afterAll(() => {
    delete process.env.AICD_TEST_LEAK;
    delete process.env.AICD_TEST_PASSED;
    delete process.env.GIT_DIR;
  });

  it('local commands get a minimal environment, closed stdin and the safety options; no token', async () => {
    const r = await runner().run(['status', 'read-stdin'], { cwd: dir, env: { GIT_AUTHOR_NAME: 'x' } });
    expect(r.stdout).toBe('eof\n');
    expect(await envOfLastRun()).toEqual({
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      LC_ALL: 'C',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_TERMINAL_PROMPT: '0',
      GIT_AUTHOR_NAME: 'x',
    });
    const args = (await fs.readFile(path.join(dir, 'args.last'), 'utf8')).split('\n');
    for (const c of ['core.hooksPath=/dev/null', 'credential.helper=', 'core.fsmonitor=false', 'commit.gpgSign=false', 'protocol.ext.allow=never']) {
      expect(args[args.indexOf(c) - 1]).toBe('-c');
    }
    expect(args.slice(-3)).toEqual(['status', 'read-stdin', '']);
  });

  it('network commands also get askpass, the token variable and the passed-through variables', async () => {
    await runner().run(['fetch', 'origin'], { cwd: dir, network: true });
    const env = await envOfLastRun();
    expect(env).toMatchObject({ GIT_ASKPASS: '/path/to/askpass.sh', AICD_GIT_TOKEN: SECRET, AICD_TEST_PASSED: 'passed-to-network-commands', GIT_SSL_CAINFO: '/ca.pem' });
    expect(env.AICD_TEST_LEAK).toBeUndefined();
    expect(env.GIT_DIR).toBeUndefined();
    expect(JSON.stringify(records)).not.toContain(SECRET);
  });

  it('a token echoed by git in an error is redacted from the message, details and logs', async () => {
    const e = await failure(runner().run(['fetch', 'echo-secret'], { cwd: dir, network: true }));
    expect(e.code).toBe('GIT_FAILED');
    expect(e.message).toContain('git fetch failed (exit 128)');
    expect(e.message).toContain('https://[redacted]@example.com/r.git/');
    expect(`${e.message} ${JSON.stringify(e)} ${logs.join('\n')} ${JSON.stringify(records)}`).not.toContain(SECRET);
  });

  it('GIT_FAILED names the command and carries the stderr tail; okExitCodes accepts expected codes', async () => {
    const e = await failure(runner().run(['worktree', 'add', 'fail'], { cwd: dir }));
    expect([e.code, e.permanent, e.details.command, e.details.exitCode]).toEqual(['GIT_FAILED', false, 'worktree add', 3]);
    expect(e.message).toContain('some failure');
    expect((await runner().run(['x', 'fail'], { cwd: dir, okExitCodes: [0, 3] })).exitCode).toBe(3);
  });

  it('an AbortSignal kills the whole process group (ABORTED)', async () => {
    const ac = new AbortController();
    const started = Date.now();
    setTimeout(() => ac.abort(), 300);
    const e = await failure(runner().run(['fetch', 'sleep-forever'], { cwd: dir, signal: ac.signal }));
    expect(e.code).toBe('ABORTED');
    expect(Date.now() - started).toBeLessThan(10_000);
    const grandchild = Number(await fs.readFile(path.join(dir, 'grandchild.pid'), 'utf8'));
    expect(await isAlive(grandchild)).toBe(false); // the sleep started by "git" is gone too
    expect(records.at(-1)?.outcome).toBe('aborted');
    // Already aborted: not even started.
    expect((await failure(runner().run(['status'], { cwd: dir, signal: AbortSignal.abort() }))).code).toBe('ABORTED');
  });

  it('a timeout kills the process group (GIT_TIMEOUT, transient)', async () => {
    const started = Date.now();
    const e = await failure(runner({ timeoutMs: 300 }).run(['fetch', 'sleep-forever'], { cwd: dir }));
    expect([e.code, e.permanent]).toEqual(['GIT_TIMEOUT', false]);
    expect(Date.now() - started).toBeLessThan(10_000);
    const grandchild = Number(await fs.readFile(path.join(dir, 'grandchild.pid'), 'utf8'));
    expect(await isAlive(grandchild)).toBe(false);
  });

  it('after a kill, removes the lock files the killed git created (mirror and worktree), and only those', async () => {
    const m = path.join(dir, 'm.git');
    for (const d of ['refs/remotes/origin', 'refs/heads/aicd', 'worktrees/j']) await fs.mkdir(path.join(m, d), { recursive: true });
    await fs.writeFile(path.join(m, 'worktrees/j/HEAD'), 'ref: refs/heads/aicd/1-x\n');
    await fs.writeFile(path.join(m, 'worktrees/j/commondir'), '../..\n');
    const wt = path.join(dir, 'wt');
    await fs.mkdir(wt, { recursive: true });
    await fs.writeFile(path.join(wt, '.git'), `gitdir: ${path.join(m, 'worktrees/j')}\n`);
    const old = path.join(m, 'old.lock');
    await fs.writeFile(old, '');
    await fs.utimes(old, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));
    const otherJobs = path.join(m, 'refs/heads/aicd/other.lock'); // another job's commit in flight
    await fs.writeFile(otherJobs, '');
    const exists = (p: string) => fs.stat(p).then(() => true, () => false);

    const timeout = runner({ timeoutMs: 400 });
    expect((await failure(timeout.run([`--git-dir=${m}`, 'fetch', 'make-mirror-locks'], { cwd: dir }))).code).toBe('GIT_TIMEOUT');
    expect(await exists(path.join(m, 'packed-refs.lock'))).toBe(false);
    expect(await exists(path.join(m, 'refs/remotes/origin/main.lock'))).toBe(false);
    expect(await exists(old)).toBe(true); // older than the command: not its lock
    expect(await exists(otherJobs)).toBe(true); // outside what a mirror fetch locks

    expect((await failure(timeout.run(['commit', 'make-worktree-locks'], { cwd: wt }))).code).toBe('GIT_TIMEOUT');
    expect(await exists(path.join(m, 'worktrees/j/index.lock'))).toBe(false);
    expect(await exists(path.join(m, 'refs/heads/aicd/1-x.lock'))).toBe(false);
    expect(await exists(otherJobs)).toBe(true);
    expect(logs.some((l) => l.includes('lock file(s) left by the killed git'))).toBe(true);
  });
});
