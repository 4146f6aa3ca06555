import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from './free-port';

/** A private FerretDB v2 + DocumentDB instance started by {@link startDocumentDb}. */
export interface DocumentDbInstance {
  uri: string;
  /** Pid of its FerretDB process. */
  pid: number;
  dataDir: string;
  /** Runs stop.sh (FerretDB, then PostgreSQL) and removes the data directory. */
  stop(): void;
}

/**
 * Where the FerretDB v2 + DocumentDB scripts are: `DOCDB_DIR`, else `../shared/docdb` beside the
 * repository (this machine kind's tool library; see its README.md). Present when it has start.sh.
 */
export function docdbDir(root: string): string {
  return process.env.DOCDB_DIR ?? process.env.BENCH_DOCDB_DIR ?? path.resolve(root, '..', 'shared', 'docdb');
}

/** True when {@link docdbDir} holds the scripts. */
export function hasDocumentDb(root: string): boolean {
  return fs.existsSync(path.join(docdbDir(root), 'start.sh'));
}

/** A fresh data directory path for an instance (not created). */
export function newDocumentDbDataDir(label = 'aicd-docdb'): string {
  return path.join(os.tmpdir(), `${label}-${process.pid}-${Date.now().toString(36)}`);
}

/** Pids (not this process) whose command line names `dataDir` (as itself or a path inside it). */
function processesUsing(dataDir: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (cmdline.some((arg) => arg === dataDir || arg.includes(`${dataDir}/`))) pids.push(Number(entry));
    } catch {
      /* gone meanwhile */
    }
  }
  return pids;
}

/** Sends `signal` to each pid, then waits up to `waitMs` for them to be gone. */
function signalAndWait(pids: number[], signal: NodeJS.Signals, waitMs: number): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (const deadline = Date.now() + waitMs; Date.now() < deadline && pids.some((p) => fs.existsSync(`/proc/${p}/cmdline`) && !isZombie(p)); ) {
    Atomics.wait(pause, 0, 0, 100);
  }
}

function isZombie(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

/**
 * Stops an instance and removes its data directory: first any install/start script still working
 * on it (an interrupted start; its processes name the data directory), then `<dir>/stop.sh
 * DATA_DIR` (FerretDB, then PostgreSQL; idempotent), then whatever still names the directory
 * (a FerretDB started just before its pid file was written). Only processes whose command line
 * names this unique directory are touched.
 */
export function stopDocumentDb(dir: string, dataDir: string): void {
  const scripts = processesUsing(dataDir).filter((pid) => {
    try {
      return /start\.sh|initdb/.test(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
    } catch {
      return false;
    }
  });
  if (scripts.length) signalAndWait(scripts, 'SIGKILL', 5_000);
  spawnSync('bash', [path.join(dir, 'stop.sh'), dataDir], { encoding: 'utf8', timeout: 120_000 });
  const left = processesUsing(dataDir);
  if (left.length) signalAndWait(left, 'SIGKILL', 5_000);
  fs.rmSync(dataDir, { recursive: true, force: true });
}

/**
 * Runs a script in its own process group (so a terminal's Ctrl-C aimed at the caller does not
 * reach the PostgreSQL that start.sh leaves running) without blocking the event loop, so the
 * caller's signal handlers can still run. @throws Error with the output's tail on failure.
 */
function runScript(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`bash ${args.join(' ')} failed (${code ?? signal}):\n${err.slice(-2000)}${out.slice(-1000)}`));
    });
  });
}

/**
 * `<dir>/install.sh`, tried up to three times: its version check of the FerretDB binary
 * (`ferretdb --version | grep -qx …` under `pipefail`) fails when grep exits before ferretdb has
 * written its last line (SIGPIPE, exit 141; 8 of 20 tries here), and then it rebuilds the binary
 * and fails the same check again. @throws Error with the output of the last try.
 */
async function install(dir: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await runScript([path.join(dir, 'install.sh')], 600_000);
      return;
    } catch (e) {
      if (attempt >= 3 || !/is not v\d/.test((e as Error).message)) throw e;
    }
  }
}

/**
 * Starts a private FerretDB v2 + DocumentDB (PostgreSQL 15 with the DocumentDB extension: real
 * indexes, atomic single-document updates) with `<dir>/install.sh` (idempotent, ~2 s when
 * installed) and `<dir>/start.sh DATA PG_PORT MONGO_PORT` on free ports in a fresh data directory
 * (`dataDir`, default {@link newDocumentDbDataDir}). The caller must call `stop()` on every exit
 * path (the instance is two process trees); a failed start stops what it started.
 * @throws Error with the script's output when install or start fails.
 */
export async function startDocumentDb(dir: string, label = 'aicd-docdb', dataDir = newDocumentDbDataDir(label)): Promise<DocumentDbInstance> {
  await install(dir);
  const stop = () => stopDocumentDb(dir, dataDir);
  try {
    const [pgPort, mongoPort] = [await freePort(), await freePort()];
    const out = await runScript([path.join(dir, 'start.sh'), dataDir, String(pgPort), String(mongoPort)], 120_000);
    const uri = /MONGODB_URI=(\S+)/.exec(out)?.[1];
    if (!uri) throw new Error(`start.sh printed no MONGODB_URI:\n${out.slice(-1000)}`);
    const pid = Number(fs.readFileSync(path.join(dataDir, 'ferretdb.pid'), 'utf8').trim());
    return { uri, pid, dataDir, stop };
  } catch (e) {
    stop();
    throw e;
  }
}
