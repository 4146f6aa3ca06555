import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { freePort } from '../../scripts/lib/free-port';
import * as os from 'node:os';
import * as path from 'node:path';
import Redis from 'ioredis';
import { startDocumentDb as startDocumentDbInstance } from '../../scripts/lib/docdb';

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Nearest-rank percentile of an ascending-sorted array (`p` in 0..100). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

/** Median of the finite numbers in `xs` (NaN when there are none). */
export function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Sums two count maps. */
export function addCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return out;
}

/** `after - before`, per key, dropping zeros. */
export function diffCounts(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

export const sum = (c: Record<string, number>) => Object.values(c).reduce((a, b) => a + b, 0);

const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

/** CPU time (user + system) of `pid` from /proc, in ms; NaN when unreadable. */
export function procCpuMs(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime is field 14, stime field 15.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/**
 * CPU time (ms) of `pid` and its children: its own, its reaped children's (cutime + cstime) and
 * each live child's own, from /proc. For a PostgreSQL postmaster: every backend, live or exited.
 */
export function procTreeCpuMs(pid: number | undefined): number {
  if (!pid) return NaN;
  const stat = (p: number | string) => {
    try {
      const text = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      return text.slice(text.lastIndexOf(')') + 2).split(' ');
    } catch {
      return undefined;
    }
  };
  const own = stat(pid);
  if (!own) return NaN;
  // fields[1] is ppid (field 4); utime, stime, cutime, cstime are fields 14–17.
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const f = stat(entry);
    if (f && Number(f[1]) === pid) ticks += Number(f[11]) + Number(f[12]);
  }
  return (ticks * 1000) / CLK_TCK;
}

/** Current and peak RSS of `pid` from /proc/<pid>/status, bytes. */
export function procRss(pid: number | undefined): { rss: number; peak: number } {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), peak: kb('VmHWM') };
  } catch {
    return { rss: NaN, peak: NaN };
  }
}

/** A free TCP port on 127.0.0.1. */

export { freePort };

/** A redis-server this bench started (no persistence), or an external one. */
export interface RedisServer {
  url: string;
  pid?: number;
  dedicated: boolean;
  stop(): Promise<void>;
}

/** Starts `redis-server --port <free> --save "" --appendonly no` and waits for PING. */
export async function startDedicatedRedis(): Promise<RedisServer> {
  const port = await freePort();
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => undefined);
    try {
      await r.connect();
      await r.ping();
      r.disconnect();
      break;
    } catch {
      r.disconnect();
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`redis-server on port ${port} did not start`);
      await sleep(100);
    }
  }
  // Killed when this process exits without stop() (the watchdog's or a failure's process.exit).
  const onExit = () => void (child.exitCode === null && child.kill('SIGKILL'));
  process.on('exit', onExit);
  return {
    url,
    pid: child.pid,
    dedicated: true,
    async stop() {
      process.off('exit', onExit);
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/** A FerretDB (SQLite backend) this bench started on a free port with a fresh data directory. */
export interface MongoWireServer {
  uri: string;
  pid?: number;
  /**
   * CPU time of the server so far, ms: FerretDB's process, plus for the PostgreSQL backend the
   * PostgreSQL backend processes serving its database (listed with `pg_stat_activity`; a backend
   * that exits between two readings takes its time with it, so this can undercount).
   */
  cpuMs(): number;
  stop(): Promise<void>;
}

/** The backend of a private FerretDB: SQLite files in a fresh directory, or a fresh PostgreSQL database. */
export type FerretDbBackend = { handler: 'sqlite'; sqliteParams: string } | { handler: 'postgresql'; postgresUrl: string };

/** Whether `psql` reaches the PostgreSQL server at `url` (a `postgres://` URL) within 5 s. */
export function postgresReachable(url: string): boolean {
  const r = spawnSync('psql', [url, '-XAtqc', 'select 1'], { encoding: 'utf8', timeout: 5000, env: { ...process.env, PGCONNECT_TIMEOUT: '3' } });
  return r.status === 0 && r.stdout.trim() === '1';
}

function psql(url: string, sql: string): void {
  const r = spawnSync('psql', [url, '-XAtq', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`psql ${sql}: ${r.stderr || r.error?.message}`);
}

/**
 * Starts a private FerretDB from `bin` on a free loopback port: with the SQLite backend in a fresh
 * directory, or with the PostgreSQL backend in a fresh database (created with `psql`, dropped by
 * `stop`). `setup` describes it for the results.
 * @throws Error when it does not accept connections within 20 s.
 */
export async function startDedicatedFerretDb(bin: string, backend: FerretDbBackend): Promise<MongoWireServer & { setup: string }> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aicd-bench-ferretdb-'));
  let pgDb: string | undefined;
  let backendArgs: string[];
  let setup: string;
  if (backend.handler === 'postgresql') {
    pgDb = `aicd_bench_${process.pid}_${Date.now().toString(36)}`;
    psql(backend.postgresUrl, `CREATE DATABASE ${pgDb}`);
    const u = new URL(backend.postgresUrl);
    u.pathname = `/${pgDb}`;
    // FerretDB's pgx pool otherwise grows with the wire connections (42 seen with one worker
    // process) until PostgreSQL's max_connections (100) refuses it.
    if (!u.searchParams.has('pool_max_conns')) u.searchParams.set('pool_max_conns', '40');
    backendArgs = ['--handler=postgresql', `--postgresql-url=${u.toString()}`];
    setup = `private FerretDB, PostgreSQL backend (${postgresVersion(backend.postgresUrl) ?? 'PostgreSQL'})`;
  } else {
    backendArgs = ['--handler=sqlite', `--sqlite-url=file:${dir}/${backend.sqliteParams}`];
    setup = `private FerretDB, SQLite backend${backend.sqliteParams}`;
  }
  // Its log, and its debug handler (pprof: /debug/pprof/goroutine?debug=2 shows where it waits).
  const debugPort = await freePort();
  const logFd = fs.openSync(path.join(dir, 'ferretdb.log'), 'a');
  const child = spawn(bin, [...backendArgs, `--state-dir=${dir}`, `--listen-addr=127.0.0.1:${port}`, `--debug-addr=127.0.0.1:${debugPort}`, '--telemetry=disable', '--log-level=warn'], {
    stdio: ['ignore', logFd, logFd],
  });
  fs.closeSync(logFd);
  process.stderr.write(`[bench] FerretDB pid ${child.pid} on ${port}, debug http://127.0.0.1:${debugPort}/debug/pprof/, log ${dir}/ferretdb.log\n`);
  const uri = `mongodb://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect(port, '127.0.0.1', () => (sock.destroy(), resolve(true)));
      sock.on('error', () => resolve(false));
    });
    if (ok) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${bin} did not start on port ${port}`);
    await sleep(100);
  }
  const backendPids = (): number[] => {
    if (!pgDb || backend.handler !== 'postgresql') return [];
    const r = spawnSync('psql', [backend.postgresUrl, '-XAtqc', `select pid from pg_stat_activity where datname = '${pgDb}'`], { encoding: 'utf8', timeout: 5000 });
    return r.status === 0 ? r.stdout.split('\n').filter(Boolean).map(Number) : [];
  };
  // Killed, its directory and database removed, when this process exits without stop() (the
  // watchdog's or a failure's process.exit; only synchronous work runs then).
  const onExit = () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
    if (pgDb && backend.handler === 'postgresql') spawnSync('psql', [backend.postgresUrl, '-XAtqc', `DROP DATABASE IF EXISTS ${pgDb} WITH (FORCE)`], { timeout: 10_000 });
  };
  process.on('exit', onExit);
  return {
    uri,
    pid: child.pid,
    setup,
    cpuMs: () => [child.pid, ...backendPids()].map((p) => procCpuMs(p)).filter(Number.isFinite).reduce((a, b) => a + b, 0),
    async stop() {
      process.off('exit', onExit);
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(5000)]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      fs.rmSync(dir, { recursive: true, force: true });
      if (pgDb && backend.handler === 'postgresql') psql(backend.postgresUrl, `DROP DATABASE IF EXISTS ${pgDb} WITH (FORCE)`);
    },
  };
}

function postgresVersion(url: string): string | undefined {
  const r = spawnSync('psql', [url, '-XAtqc', 'show server_version'], { encoding: 'utf8', timeout: 5000 });
  return r.status === 0 ? `PostgreSQL ${r.stdout.trim().split(' ')[0]}` : undefined;
}

/** `INFO commandstats` as { command: calls } (commands called from Lua scripts included). */
export async function redisCommandStats(redis: Redis): Promise<Record<string, number>> {
  const info = await redis.info('commandstats');
  const out: Record<string, number> = {};
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1]] = Number(m[2]);
  return out;
}

/** One field of `INFO <section>`. */
export async function redisInfoField(redis: Redis, section: string, field: string): Promise<string | undefined> {
  const info = await redis.info(section);
  return new RegExp(`^${field}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

export { docdbDir } from '../../scripts/lib/docdb';

/**
 * A private FerretDB v2 + DocumentDB for a bench phase (see scripts/lib/docdb.ts), with its CPU:
 * FerretDB's process and PostgreSQL's (the postmaster and every backend, see {@link procTreeCpuMs}).
 */
export async function startDocumentDb(dir: string): Promise<MongoWireServer & { setup: string }> {
  const db = await startDocumentDbInstance(dir, 'aicd-bench-docdb');
  process.stderr.write(`[bench] FerretDB v2 + DocumentDB on ${db.uri} (data ${db.dataDir})\n`);
  const postmaster = (() => {
    try {
      return Number(fs.readFileSync(path.join(db.dataDir, 'postgres.pid'), 'utf8').trim()) || undefined;
    } catch {
      return undefined;
    }
  })();
  // Also stopped when this process exits without stop() (the watchdog's process.exit): stop.sh is synchronous.
  let stopped = false;
  const stopOnce = () => {
    if (stopped) return;
    stopped = true;
    db.stop();
  };
  process.on('exit', stopOnce);
  return {
    uri: db.uri,
    pid: db.pid,
    setup: 'private FerretDB v2 + DocumentDB (PostgreSQL 15)',
    cpuMs: () => procCpuMs(db.pid) + procTreeCpuMs(postmaster),
    async stop() {
      process.off('exit', stopOnce);
      stopOnce();
    },
  };
}

