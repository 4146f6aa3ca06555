import { spawnSync } from 'node:child_process';

/** Runs the real entry point (src/main.ts through ts-node) with the given environment. */
function start(env: Record<string, string>, args: string[] = []) {
  return spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/main.ts', ...args], {
    cwd: `${__dirname}/../..`,
    env: { ...process.env, ...env, PORT: '0' },
    encoding: 'utf8',
    timeout: 30_000,
  });
}

describe('start-up with a dependency down', () => {
  it('an unreachable Redis gives one clear line and exit code 1, not a reconnect loop', () => {
    const r = start({ REDIS_URL: 'redis://127.0.0.1:1' });
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(
      'aicd-orchestrator: cannot reach Redis at redis://127.0.0.1:1 (ECONNREFUSED). Start Redis (`npm run services:up` prints a REDIS_URL) or set REDIS_URL.',
    );
  });

  it('an unreachable MongoDB gives one clear line and exit code 1', () => {
    const r = start({ MONGODB_URI: 'mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=500' });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^aicd-orchestrator: cannot reach MongoDB at mongodb:\/\/127\.0\.0\.1:1\/.*Start one/);
  });

  it('invalid configuration and arguments are refused naming the culprit', () => {
    const bad = start({ STAGE_ATTEMPTS: 'many' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('STAGE_ATTEMPTS');
    const stage = start({}, ['--role=worker', '--stages=planning,deploying']);
    expect(stage.status).toBe(1);
    expect(stage.stderr).toContain('unknown stage(s) deploying');
  });
});
