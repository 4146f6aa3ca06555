/** The mirror lock: mutual exclusion in and across processes, stale-lock takeover, timeout, abort. */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { withFileLock } from '../../src/workspaces/mirror-lock';
import { isWorkspaceError } from '../../src/workspaces';

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'aicd-lock-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const logger = { debug: () => undefined, warn: () => undefined };
const opts = (lockPath: string, over: Partial<Parameters<typeof withFileLock>[0]> = {}) => ({ lockPath, timeoutMs: 10_000, staleMs: 2_000, logger, ...over });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('withFileLock', () => {
  it('never lets two holders overlap (one process, 5 callers)', async () => {
    const lockPath = path.join(dir, 'a.lock');
    let inside = 0;
    let maxInside = 0;
    const order: number[] = [];
    await Promise.all(
      [0, 1, 2, 3, 4].map((i) =>
        withFileLock(opts(lockPath), async () => {
          inside++;
          maxInside = Math.max(maxInside, inside);
          await sleep(20);
          order.push(i);
          inside--;
        }),
      ),
    );
    expect(maxInside).toBe(1);
    expect(order).toEqual([0, 1, 2, 3, 4]); // FIFO within a process
    await expect(fs.stat(lockPath)).rejects.toThrow(); // released
  });

  it('waits for a lock held by another process, then takes it', async () => {
    const lockPath = path.join(dir, 'b.lock');
    const code = `require('proper-lockfile').lock(${JSON.stringify(lockPath)}, { realpath: false, lockfilePath: ${JSON.stringify(lockPath)} })
      .then((release) => { process.stdout.write('locked\\n'); setTimeout(() => release().then(() => process.exit(0)), 600); });`;
    const holder = spawn(process.execPath, ['-e', code], { cwd: path.join(__dirname, '..', '..'), stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout.once('data', () => resolve());
        holder.once('exit', (c) => reject(new Error(`holder exited ${c}`)));
      });
      const started = Date.now();
      await withFileLock(opts(lockPath), async () => undefined);
      expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('takes over a stale lock (holder died: not refreshed for staleMs)', async () => {
    const lockPath = path.join(dir, 'c.lock');
    await fs.mkdir(lockPath);
    const old = new Date(Date.now() - 60_000);
    await fs.utimes(lockPath, old, old);
    const started = Date.now();
    expect(await withFileLock(opts(lockPath), async () => 'ran')).toBe('ran');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('LOCK_TIMEOUT while a live holder keeps it; ABORTED when the signal fires', async () => {
    const lockPath = path.join(dir, 'd.lock');
    await fs.mkdir(lockPath); // fresh mtime: a live holder
    const e = await withFileLock(opts(lockPath, { timeoutMs: 300, staleMs: 60_000 }), async () => 'ran').catch((x: unknown) => x);
    expect(isWorkspaceError(e, 'LOCK_TIMEOUT')).toBe(true);
    expect((e as { permanent: boolean }).permanent).toBe(false);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const a = await withFileLock(opts(lockPath, { staleMs: 60_000, signal: ac.signal }), async () => 'ran').catch((x: unknown) => x);
    expect(isWorkspaceError(a, 'ABORTED')).toBe(true);
    await fs.rmdir(lockPath);
  });
});
