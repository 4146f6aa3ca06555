import { spawnSync } from 'node:child_process';
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

/**
 * Starts a private FerretDB v2 + DocumentDB (PostgreSQL 15 with the DocumentDB extension: real
 * indexes, atomic single-document updates) with `<dir>/install.sh` (idempotent, ~2 s when
 * installed) and `<dir>/start.sh DATA PG_PORT MONGO_PORT` on free ports in a fresh data directory.
 * The caller must call `stop()` on every exit path (the instance is two process trees).
 * @throws Error with the script's output when install or start fails.
 */
export async function startDocumentDb(dir: string, label = 'aicd-docdb'): Promise<DocumentDbInstance> {
  const run = (args: string[], timeoutMs: number) => {
    const r = spawnSync('bash', args, { encoding: 'utf8', timeout: timeoutMs });
    if (r.status !== 0) throw new Error(`bash ${args.join(' ')} failed (${r.status ?? r.signal}):\n${(r.stderr ?? '').slice(-2000)}${(r.stdout ?? '').slice(-1000)}`);
    return r.stdout;
  };
  run([path.join(dir, 'install.sh')], 600_000);
  const dataDir = path.join(os.tmpdir(), `${label}-${process.pid}-${Date.now().toString(36)}`);
  const stop = () => {
    spawnSync('bash', [path.join(dir, 'stop.sh'), dataDir], { encoding: 'utf8', timeout: 120_000 });
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const [pgPort, mongoPort] = [await freePort(), await freePort()];
    const out = run([path.join(dir, 'start.sh'), dataDir, String(pgPort), String(mongoPort)], 120_000);
    const uri = /MONGODB_URI=(\S+)/.exec(out)?.[1];
    if (!uri) throw new Error(`start.sh printed no MONGODB_URI:\n${out.slice(-1000)}`);
    const pid = Number(fs.readFileSync(path.join(dataDir, 'ferretdb.pid'), 'utf8').trim());
    return { uri, pid, dataDir, stop };
  } catch (e) {
    stop();
    throw e;
  }
}
