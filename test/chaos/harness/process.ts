/**
 * The chaos harness's processes: the build of src/ the children run ({@link buildMain}), and
 * {@link Child}, one OS process whose output goes to a log file. Every child is registered in
 * {@link children}; {@link killEverything} (afterAll, and process exit) SIGKILLs any still alive.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort } from '../../../scripts/lib/free-port';
import type { JobState } from '../../../src/lifecycle/job.types';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const TENANT = 'chaos';
export const FINAL: JobState[] = ['COMPLETED', 'FAILED', 'CANCELLED'];

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` every `everyMs` until it returns a value; throws after `timeoutMs` with `describe()`. */
export async function poll<T>(check: () => Promise<T | undefined>, timeoutMs: number, describe: () => Promise<string> | string, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let value: T | undefined;
    try {
      value = await check();
    } catch {
      value = undefined; // a dependency may be down on purpose; keep polling
    }
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${await describe()}`);
    await sleep(everyMs);
  }
}

export { freePort };

/* ------------------------------------------------------------------------------------------ */
/* build                                                                                        */
/* ------------------------------------------------------------------------------------------ */

function sourceHash(): string {
  const h = createHash('sha256');
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) h.update(p).update(fs.readFileSync(p));
    }
  };
  walk(path.join(ROOT, 'src'));
  for (const f of ['tsconfig.json', 'tsconfig.build.json']) h.update(fs.readFileSync(path.join(ROOT, f)));
  return h.digest('hex').slice(0, 16);
}

/**
 * Compiles src/ with `tsc -p tsconfig.build.json` into .cache/chaos-dist/<hash of src> unless that
 * build exists, and returns its main.js. Atomic (temp dir + rename), so parallel runs are safe.
 */
export function buildMain(): string {
  if (process.env.CHAOS_MAIN) return path.resolve(process.env.CHAOS_MAIN); // e.g. an older build, to see a test catch a regression
  const base = path.join(ROOT, '.cache', 'chaos-dist');
  const out = path.join(base, sourceHash());
  const main = path.join(out, 'main.js');
  if (fs.existsSync(main)) return main;
  fs.mkdirSync(base, { recursive: true });
  const tmp = path.join(base, `.tmp-${process.pid}-${randomBytes(3).toString('hex')}`);
  const started = Date.now();
  const res = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json', '--outDir', tmp], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (res.status !== 0) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new Error(`tsc failed (${res.status ?? res.signal}):\n${res.stdout}\n${res.stderr}`);
  }
  try {
    fs.renameSync(tmp, out);
  } catch {
    fs.rmSync(tmp, { recursive: true, force: true }); // another run built the same sources
  }
  // Builds of older sources: remove those not touched for an hour.
  for (const d of fs.readdirSync(base)) {
    const p = path.join(base, d);
    if (p !== out && Date.now() - fs.statSync(p).mtimeMs > 3600_000) fs.rmSync(p, { recursive: true, force: true });
  }
  console.log(`chaos: compiled src/ into ${path.relative(ROOT, out)} in ${Date.now() - started} ms`);
  return main;
}

/* ------------------------------------------------------------------------------------------ */
/* child processes                                                                              */
/* ------------------------------------------------------------------------------------------ */

/** Every child started by the harness, so nothing outlives the tests. */
export const children = new Set<Child>();

/** SIGKILLs every child still alive (afterAll, and on process exit as a safety net). */
export function killEverything(): void {
  for (const c of children) c.kill('SIGKILL');
}
process.once('exit', killEverything);

/** One child process whose stdout/stderr go to `logFile`. */
export class Child {
  readonly proc: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exit?: { code: number | null; signal: NodeJS.Signals | null };
  readonly startedAt = Date.now();

  constructor(
    readonly name: string,
    cmd: string,
    args: string[],
    env: NodeJS.ProcessEnv,
    readonly logFile: string,
    /** Opt-in: the child leads its own process group, and `kill` signals the whole group. */
    readonly options: { detached?: boolean } = {},
  ) {
    fs.mkdirSync(path.dirname(logFile), { recursive: true });
    const fd = fs.openSync(logFile, 'a');
    try {
      this.proc = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', fd, fd], ...(options.detached ? { detached: true } : {}) });
    } finally {
      fs.closeSync(fd);
    }
    children.add(this);
    this.exited = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => {
        this.exit = { code, signal };
        children.delete(this);
        resolve(this.exit);
      });
      this.proc.once('error', () => {
        this.exit = { code: null, signal: null };
        children.delete(this);
        resolve(this.exit);
      });
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  kill(signal: NodeJS.Signals): void {
    if (!this.alive) return;
    if (this.options.detached) {
      try {
        process.kill(-this.pid, signal); // its whole process group
        return;
      } catch {
        /* the group is gone: fall through */
      }
    }
    this.proc.kill(signal);
  }

  log(): string {
    try {
      return fs.readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** Resolves when `text` appears in the child's output; throws if it exits first or after `timeoutMs`. */
  async waitForOutput(text: string, timeoutMs = 20_000): Promise<void> {
    await poll(
      async () => {
        if (this.log().includes(text)) return true;
        if (!this.alive) throw new Error('exited');
        return undefined;
      },
      timeoutMs,
      () => `${this.name} (pid ${this.pid}, ${this.alive ? 'alive' : `exited ${JSON.stringify(this.exit)}`}) never printed "${text}":\n${this.log().slice(-3000)}`,
      50,
    ).catch((e: Error) => {
      throw new Error(e.message.startsWith('timed out') ? e.message : `${this.name} exited before "${text}":\n${this.log().slice(-3000)}`);
    });
  }

  /** Waits for the process to exit (hard timeout). */
  async waitExit(timeoutMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.exited,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`${this.name} (pid ${this.pid}) did not exit within ${timeoutMs} ms:\n${this.log().slice(-2000)}`)), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}
