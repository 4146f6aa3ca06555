/**
 * FerretDB v1.24.2 with its SQLite handler: the zero-setup fallback (built once with Go by
 * scripts/build-ferretdb.sh into ${AICD_CACHE_DIR:-~/.cache/aicd-orchestrator}, or $FERRETDB_BIN),
 * on a free loopback port with a fresh data dir under .services/ferretdb-data. Its queries other
 * than `_id` equality scan, and its updates are not atomic with their filter (commits then claim
 * each version first; src/jobs/version-claims.ts).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from '../../lib/free-port';
import { spawnDetached, stopPid, waitReady } from '../process';
import { mongoAnswers } from '../probes';
import type { MongoEntry } from '../state';
import { log, ROOT, SERVICES_DIR, ServicesError, StartupError, which } from '../util';
import type { Availability, MongoProvider, Started } from './types';

const VERSION = 'v1.24.2';
const DATA_ROOT = path.join(SERVICES_DIR, 'ferretdb-data');
/** Substring of its command line, to guard against pid reuse when stopping. */
const NEEDLE = '--handler=sqlite';
const START_TIMEOUT_MS = 20_000;

/** Cache path used by scripts/build-ferretdb.sh. */
export function ferretdbCachePath(): string {
  const cacheRoot = process.env.AICD_CACHE_DIR || path.join(os.homedir(), '.cache', 'aicd-orchestrator');
  return path.join(cacheRoot, `ferretdb-${VERSION}`, 'ferretdb');
}

/** True if `bin` is an executable that runs `--version` successfully. */
function binaryRuns(bin: string): boolean {
  return spawnSync(bin, ['--version'], { stdio: 'ignore', timeout: 10_000 }).status === 0;
}

/**
 * Locates a FerretDB binary: $FERRETDB_BIN, then the build cache, then builds it with
 * scripts/build-ferretdb.sh when `go` is on PATH. Returns undefined if none is obtainable.
 */
function findFerretdb(): string | undefined {
  const fromEnv = process.env.FERRETDB_BIN;
  if (fromEnv) {
    if (binaryRuns(fromEnv)) return fromEnv;
    log(`warning: FERRETDB_BIN=${fromEnv} does not run; ignoring it`);
  }
  const cached = ferretdbCachePath();
  if (fs.existsSync(cached) && binaryRuns(cached)) return cached;
  if (!which('go')) return undefined;
  log(`building FerretDB ${VERSION} (first run only; output follows)`);
  const res = spawnSync('bash', [path.join(ROOT, 'scripts', 'build-ferretdb.sh')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (res.status !== 0) {
    log(`scripts/build-ferretdb.sh failed (exit ${res.status ?? res.signal})`);
    return undefined;
  }
  const built = res.stdout.trim().split('\n').pop()?.trim();
  return built && binaryRuns(built) ? built : undefined;
}

/** Starts FerretDB (SQLite backend) on a free loopback port with a fresh data dir. */
async function startFerretdb(bin: string): Promise<MongoEntry> {
  const logFile = path.join(SERVICES_DIR, 'ferretdb.log');
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const dataDir = path.join(DATA_ROOT, String(port));
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.mkdirSync(dataDir, { recursive: true });
    const uri = `mongodb://127.0.0.1:${port}/`;
    log(`starting FerretDB ${VERSION} on 127.0.0.1:${port} (data: ${path.relative(ROOT, dataDir)}, log: ${path.relative(ROOT, logFile)})`);
    const child = spawnDetached(
      bin,
      [
        '--handler=sqlite',
        `--sqlite-url=file:${dataDir}/`, // trailing slash: a directory of SQLite files
        `--listen-addr=127.0.0.1:${port}`,
        `--state-dir=${dataDir}`, // otherwise FerretDB writes state.json into the cwd
        '--debug-addr=-', // no metrics/pprof HTTP listener (fixed :8088 would collide)
        '--telemetry=disable',
        `--log-level=${process.env.FERRETDB_LOG_LEVEL || 'error'}`, // 'warn' logs every unsupported endSessions
      ],
      logFile,
      NEEDLE,
    );
    try {
      await waitReady('FerretDB', child, () => mongoAnswers(uri, 1_000), START_TIMEOUT_MS, logFile);
      return { uri, origin: 'started', provider: 'ferretdb-v1', pid: child.pid, needle: NEEDLE, dataDir, logFile };
    } catch (err) {
      fs.rmSync(dataDir, { recursive: true, force: true });
      // A crash right away is most likely the port being taken since freePort(); retry then.
      if (attempt >= 3 || !(err instanceof StartupError && err.exitedEarly)) throw err;
      log(`${err.message.split('\n')[0]}; retrying on another port`);
    }
  }
}

export const ferretdbV1Provider: MongoProvider = {
  name: 'ferretdb-v1',
  title: `FerretDB ${VERSION} (SQLite)`,
  async available(): Promise<Availability> {
    const bin = process.env.FERRETDB_BIN;
    if (bin && fs.existsSync(bin)) return { ok: true, detail: `FERRETDB_BIN=${bin}` };
    if (fs.existsSync(ferretdbCachePath())) return { ok: true, detail: ferretdbCachePath() };
    if (which('go')) return { ok: true, detail: 'built with Go by scripts/build-ferretdb.sh' };
    return { ok: false, reason: `no FerretDB binary ($FERRETDB_BIN or ${ferretdbCachePath()}) and no 'go' to build one (https://go.dev/dl)` };
  },
  async start(): Promise<Started> {
    const bin = findFerretdb();
    if (!bin) throw new ServicesError(`FerretDB ${VERSION} could not be had: ${((await this.available()) as { reason?: string }).reason ?? 'scripts/build-ferretdb.sh failed (see above)'}`);
    return { mongo: await startFerretdb(bin) };
  },
  async stop(entry: MongoEntry): Promise<void> {
    if (entry.pid !== undefined) await stopPid(entry.pid, 'FerretDB', NEEDLE);
    if (entry.dataDir && path.resolve(entry.dataDir).startsWith(DATA_ROOT + path.sep)) {
      fs.rmSync(entry.dataDir, { recursive: true, force: true });
      try {
        fs.rmdirSync(DATA_ROOT); // only succeeds when empty
      } catch {
        /* other instances' data, or already gone */
      }
    }
  },
};
