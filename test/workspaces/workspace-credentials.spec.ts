/**
 * Credentials: a token reaches git only through GIT_ASKPASS. Proven end to end against a local
 * smart-HTTP server over TLS that requires Basic auth (`git http-backend`), then searched for
 * everywhere it must not be: every argv passed to git, every file under the workspace root (the
 * mirror's and the worktree's config included), every log line and error message.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { isWorkspaceError, WorkspaceManager, type GitCommandRecord, type WorkspaceManagerOptions } from '../../src/workspaces';
import { ASKPASS_SCRIPT, ensureAskpassScript } from '../../src/workspaces/askpass';
import { IDENTITY, git, makeFixture, newJobId, type Fixture } from './support/git-fixture';
import { startGitHttpsServer, type GitHttpsServer } from './support/https-git-server';

const TOKEN = `ghs_${randomBytes(18).toString('hex')}`;
const forms = (secret: string) => [secret, Buffer.from(`x-access-token:${secret}`).toString('base64'), Buffer.from(secret).toString('base64')];

let fx: Fixture;
let server: GitHttpsServer;
beforeAll(async () => {
  fx = await makeFixture();
  server = await startGitHttpsServer(path.dirname(fx.remote), TOKEN, path.join(fx.tmp, 'certs'));
});
afterAll(async () => {
  await server?.close();
  await fx.cleanup();
});

/** A manager with recorded git commands and log lines. */
function recorded(root: string, token: WorkspaceManagerOptions['token']) {
  const commands: GitCommandRecord[] = [];
  const logs: string[] = [];
  const log = (message: string, fields?: Record<string, unknown>) => void logs.push(`${message} ${JSON.stringify(fields ?? {})}`);
  const manager = new WorkspaceManager({
    root,
    token,
    passEnv: [],
    networkEnv: { GIT_SSL_CAINFO: server.caFile },
    onGitCommand: (r) => commands.push(r),
    logger: { debug: log, warn: log },
  });
  return { manager, commands, logs };
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

describe('credentials through GIT_ASKPASS', () => {
  it('fetches and pushes over authenticated https; the token is in no argv, file, config or log line', async () => {
    const root = path.join(fx.tmp, 'root-https');
    let asked = 0;
    const { manager, commands, logs } = recorded(root, async () => (asked++, TOKEN));
    const remoteUrl = server.url('repo.git');

    const ws = await manager.ensure({ jobId: newJobId(), issueNumber: 77 }, { remoteUrl });
    expect(ws.baseCommit).toBe(fx.mainHead);
    await fs.writeFile(path.join(ws.path, 'over-https.txt'), 'hello\n');
    const c = await manager.commitChanges(ws, { ...IDENTITY, startCommit: ws.baseCommit, message: 'over https', maxDiffBytes: 100_000 });
    expect(await manager.push(ws)).toEqual({ sha: c.sha, remoteRef: `refs/heads/${ws.branch}` });
    expect(git(fx.remote, 'rev-parse', `refs/heads/${ws.branch}`)).toBe(c.sha);
    expect(await manager.remoteBranchHead(ws)).toBe(c.sha);

    // Git asked (401 first, then credentials from askpass), and we were asked for the token.
    expect(server.requests.some((r) => !r.hadAuthorization)).toBe(true);
    expect(server.requests.filter((r) => r.authorized).length).toBeGreaterThanOrEqual(3);
    expect(asked).toBeGreaterThanOrEqual(3);

    // Only network commands received the token variable (and askpass).
    const network = commands.filter((r) => r.network);
    expect(network.map((r) => r.argv.find((a) => ['fetch', 'remote', 'push', 'ls-remote'].includes(a)))).toEqual(['fetch', 'remote', 'push', 'ls-remote']);
    for (const r of commands) {
      expect(r.envKeys.includes('AICD_GIT_TOKEN')).toBe(r.network);
      expect(r.envKeys.includes('GIT_ASKPASS')).toBe(r.network);
      expect(r.argv).toEqual(expect.arrayContaining(['-c', 'credential.helper=']));
    }

    // The grep: argv, logs, every file under the root (mirror config, worktree admin files, askpass script…).
    const files = await filesUnder(root);
    expect(files.some((f) => f.endsWith(path.join('.git', 'config')) || /mirrors\/[0-9a-f]+\.git\/config$/.test(f))).toBe(true);
    expect(files.some((f) => f.endsWith('askpass.sh'))).toBe(true);
    const haystacks = [JSON.stringify(commands), logs.join('\n'), ...(await Promise.all(files.map((f) => fs.readFile(f, 'latin1'))))];
    expect(logs.length).toBeGreaterThan(10);
    for (const form of forms(TOKEN)) for (const h of haystacks) expect(h.includes(form)).toBe(false);
    const mirrorConfig = git(git(ws.path, 'rev-parse', '--path-format=absolute', '--git-common-dir'), 'config', '--list');
    expect(mirrorConfig).toContain(`remote.origin.url=${remoteUrl}`);
    expect(mirrorConfig).not.toMatch(/credential|extraheader|x-access-token/i);
  });

  it('restores a mirror config the agent rewrote to send git (and the token) elsewhere', async () => {
    const evil = await startGitHttpsServer(path.dirname(fx.remote), 'evil-token-never-asked', path.join(fx.tmp, 'certs-evil'));
    try {
      const { manager, logs } = recorded(path.join(fx.tmp, 'root-tamper'), async () => TOKEN);
      const remoteUrl = server.url('repo.git');
      const job = { jobId: newJobId(), issueNumber: 78 };
      const ws = await manager.ensure(job, { remoteUrl });
      // The agent, inside its worktree, redirects the remote (this writes the shared mirror config).
      git(ws.path, 'config', `url.${evil.url('')}.insteadOf`, remoteUrl);
      git(ws.path, 'config', 'remote.origin.pushurl', evil.url('repo.git'));
      git(ws.path, 'config', 'http.extraHeader', 'X-Exfil: 1');
      expect(git(ws.path, 'config', '--get-regexp', 'insteadof')).toContain(evil.url(''));

      await fs.writeFile(path.join(ws.path, 'after-tamper.txt'), 'x\n');
      const c = await manager.commitChanges(ws, { ...IDENTITY, startCommit: ws.baseCommit, message: 'after tamper', maxDiffBytes: 10_000 });
      await manager.push(ws);
      expect(git(fx.remote, 'rev-parse', `refs/heads/${ws.branch}`)).toBe(c.sha);
      git(ws.path, 'config', `url.${evil.url('')}.insteadOf`, remoteUrl);
      expect(await manager.remoteBranchHead(ws)).toBe(c.sha);
      git(ws.path, 'config', `url.${evil.url('')}.insteadOf`, remoteUrl);
      await fx.upstreamCommit({ 'tamper-fetch.txt': 'x\n' });
      await manager.ensure({ jobId: newJobId(), issueNumber: 79 }, { remoteUrl });

      expect(evil.requests).toEqual([]);
      expect(git(ws.path, 'config', '--list')).not.toMatch(/insteadof|pushurl|extraheader/i);
      expect(logs.filter((l) => l.includes('mirror config was modified')).length).toBe(3);
    } finally {
      await evil.close();
    }
  });

  it('a wrong or missing token ends in GIT_AUTH_FAILED (transient), and the wrong token is in no message or log', async () => {
    const wrong = `ghs_wrong_${randomBytes(12).toString('hex')}`;
    const bad = recorded(path.join(fx.tmp, 'root-wrong'), async () => wrong);
    const e = await bad.manager.ensure({ jobId: newJobId(), issueNumber: 1 }, { remoteUrl: server.url('repo.git') }).catch((x: unknown) => x);
    expect(isWorkspaceError(e, 'GIT_AUTH_FAILED')).toBe(true);
    expect((e as { permanent: boolean }).permanent).toBe(false);
    const text = `${(e as Error).message} ${JSON.stringify(e)} ${bad.logs.join('\n')} ${JSON.stringify(bad.commands)}`;
    expect(text).toContain('git fetch');
    for (const form of forms(wrong)) expect(text.includes(form)).toBe(false);

    const none = recorded(path.join(fx.tmp, 'root-none'), async () => null);
    const e2 = await none.manager.ensure({ jobId: newJobId(), issueNumber: 1 }, { remoteUrl: server.url('repo.git') }).catch((x: unknown) => x);
    expect(isWorkspaceError(e2, 'GIT_AUTH_FAILED')).toBe(true);
    expect(none.commands.every((r) => !r.envKeys.includes('AICD_GIT_TOKEN'))).toBe(true);
  });

  it('the askpass script (mode 0700, no secret inside) answers the user name, and the password from its environment only', async () => {
    const script = await ensureAskpassScript(path.join(fx.tmp, 'root-askpass'));
    expect(script).toBe(path.join(fx.tmp, 'root-askpass', '.aicd', 'askpass.sh'));
    expect((await fs.stat(script)).mode & 0o777).toBe(0o700);
    expect(await fs.readFile(script, 'utf8')).toBe(ASKPASS_SCRIPT);
    const ask = (prompt: string, env: Record<string, string> = {}) =>
      execFileSync(script, [prompt], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(ask("Username for 'https://github.com': ")).toBe('x-access-token\n');
    expect(ask("Password for 'https://x-access-token@github.com': ", { AICD_GIT_TOKEN: 'tok-123' })).toBe('tok-123\n');
    expect(() => ask("Password for 'https://x-access-token@github.com': ")).toThrow(); // no token: exit 1
    expect(() => ask('Enter passphrase for key: ', { AICD_GIT_TOKEN: 'tok-123' })).toThrow(); // never answers other prompts
    // Written once: a second call keeps the file.
    const before = (await fs.stat(script)).ino;
    await ensureAskpassScript(path.join(fx.tmp, 'root-askpass'));
    expect((await fs.stat(script)).ino).toBe(before);
  });
});
