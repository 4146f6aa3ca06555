/**
 * Local backing services (Redis + a MongoDB-wire server) for dev, tests, demo and CI,
 * without Docker.
 *
 * Usage (run with tsx):
 *
 *   tsx scripts/services.ts up            # ensure services, print REDIS_URL=... / MONGODB_URI=...
 *   tsx scripts/services.ts down          # stop what `up` started (pre-existing services untouched)
 *   tsx scripts/services.ts env           # print the URLs recorded by `up`, or exit 1
 *   tsx scripts/services.ts run -- <cmd> [args...]
 *                                         # up, run <cmd> with the URLs in env, then down
 *                                         # (only what this invocation started)
 *
 * Load the URLs into a shell:  `export $(npx tsx scripts/services.ts up)`
 *
 * Resolution order
 *  - Redis:   $REDIS_URL → server a previous `up` started (still alive, per .services/state.json)
 *             → something answering PING on 127.0.0.1:6379 → spawn `redis-server` on a free
 *             loopback port (log: .services/redis.log).
 *  - MongoDB: $MONGODB_URI → server a previous `up` started → FerretDB with the SQLite backend on
 *             a free loopback port, fresh data dir under .services/ferretdb-data (binary from
 *             $FERRETDB_BIN, else ${AICD_CACHE_DIR:-~/.cache/aicd-orchestrator}/ferretdb-v1.24.2/,
 *             else built by scripts/build-ferretdb.sh when `go` is on PATH) → mongodb-memory-server
 *             if it happens to be installed. $FERRETDB_LOG_LEVEL overrides FerretDB's 'error'.
 *
 * Services are spawned detached (own process group) so Ctrl-C on a wrapped command does not hit
 * them; `down`/`run` stop them with SIGTERM (SIGKILL after 5s).
 *
 * Only node built-ins, ioredis and mongodb are used. Logs go to stderr; stdout carries only the
 * KEY=VALUE lines (for `up`/`env`) or the wrapped command's own output (for `run`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Redis from 'ioredis';
import { MongoClient } from 'mongodb';
import { freePort } from './lib/free-port';

/** Repository root (this file lives in <root>/scripts). */
const ROOT = path.resolve(__dirname, '..');
/** Runtime directory for state, logs and data (gitignored). */
const SERVICES_DIR = path.join(ROOT, '.services');
const STATE_FILE = path.join(SERVICES_DIR, 'state.json');
const FERRETDB_DATA_ROOT = path.join(SERVICES_DIR, 'ferretdb-data');
const FERRETDB_VERSION = 'v1.24.2';
/** Substrings of our services' command lines, used to guard against pid reuse when stopping. */
const FERRETDB_NEEDLE = '--handler=sqlite';
const MMS_NEEDLE = 'aicd-mongodb-memory-server';

const REDIS_START_TIMEOUT_MS = 10_000;
const FERRETDB_START_TIMEOUT_MS = 20_000;
/** mongodb-memory-server may have to fetch a mongod binary on first use. */
const MMS_START_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 5_000;

/** How a service entry came to exist: started by us (and so stoppable) or found already running. */
type Origin = 'started' | 'external';

/** A Redis instance recorded in the state file. */
interface RedisEntry {
  url: string;
  origin: Origin;
  /** pid of the redis-server we spawned (origin === 'started'). */
  pid?: number;
  logFile?: string;
}

/** A MongoDB-wire server recorded in the state file. */
interface MongoEntry {
  uri: string;
  origin: Origin;
  kind: 'ferretdb' | 'mongodb-memory-server' | 'external';
  pid?: number;
  dataDir?: string;
  logFile?: string;
}

/** Content of .services/state.json. */
interface State {
  redis: RedisEntry;
  mongo: MongoEntry;
  updatedAt: string;
}

/** Result of `up`: the effective state plus which entries this invocation spawned. */
interface UpResult {
  state: State;
  startedRedis: boolean;
  startedMongo: boolean;
}

/** Thrown for expected, user-actionable failures (printed without a stack trace). */
class ServicesError extends Error {}

/** A service failed to start; `exitedEarly` distinguishes a crash (worth a retry) from a timeout. */
class StartupError extends ServicesError {
  constructor(
    message: string,
    readonly exitedEarly: boolean,
  ) {
    super(message);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* logging & small helpers                                                                     */
/* ------------------------------------------------------------------------------------------ */

/** Writes a prefixed diagnostic line to stderr (stdout is reserved for KEY=VALUE output). */
function log(message: string): void {
  process.stderr.write(`[services] ${message}\n`);
}

/** Resolves after `ms` milliseconds. */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}


/** Finds an executable on PATH (like `command -v`), or returns undefined. */
function which(cmd: string): string | undefined {
  const exts = process.platform === 'win32' ? (process.env.PATHEXT ?? '.EXE').split(';') : [''];
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    for (const ext of exts) {
      const candidate = path.join(dir, cmd + ext);
      try {
        fs.accessSync(candidate, fs.constants.X_OK);
        if (fs.statSync(candidate).isFile()) return candidate;
      } catch {
        /* not here */
      }
    }
  }
  return undefined;
}

/**
 * Returns the last `lines` lines of the most recent session in a log file (sessions start with the
 * `--- <time> <cmd>` header written by spawnDetached), or '' if unreadable.
 */
function tail(file: string | undefined, lines = 15): string {
  if (!file) return '';
  try {
    const text = fs.readFileSync(file, 'utf8');
    const session = text.slice(Math.max(0, text.lastIndexOf('\n--- ') + 1));
    return session.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/* ------------------------------------------------------------------------------------------ */
/* process management                                                                          */
/* ------------------------------------------------------------------------------------------ */

/** True if `pid` is a running (non-zombie) process. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // A killed-but-unreaped child still "exists" for kill(0); treat zombies as dead.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const stateChar = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return stateChar !== 'Z' && stateChar !== 'X';
  } catch {
    return true; // no /proc (non-Linux): trust kill(0)
  }
}

/**
 * Guards against pid reuse: on Linux, checks that the process command line mentions `needle`.
 * Elsewhere (no /proc) it trusts the pid.
 */
function pidLooksLike(pid: number, needle: string): boolean {
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    return cmdline.includes(needle);
  } catch {
    return !fs.existsSync('/proc/self');
  }
}

/** Sends `signal` to the process group led by `pid` (services are spawned detached), else to pid. */
function signalTree(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** Stops a process we started: SIGTERM, wait up to STOP_TIMEOUT_MS, then SIGKILL. */
async function stopPid(pid: number, name: string, needle: string): Promise<void> {
  if (!isAlive(pid)) return;
  if (!pidLooksLike(pid, needle)) {
    log(`pid ${pid} no longer looks like ${name}; not killing it`);
    return;
  }
  log(`stopping ${name} (pid ${pid})`);
  signalTree(pid, 'SIGTERM');
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return;
    await sleep(100);
  }
  log(`${name} (pid ${pid}) ignored SIGTERM; sending SIGKILL`);
  signalTree(pid, 'SIGKILL');
  await sleep(200);
}

/** Processes spawned by this invocation (so an interrupted startup can be cleaned up). */
const spawnedHere: Array<{ pid: number; needle: string; name: string; dataDir?: string }> = [];

/**
 * Spawns a long-running service detached (own process group, so a terminal Ctrl-C aimed at a
 * wrapped command does not hit it), with stdout/stderr appended to `logFile`.
 */
function spawnDetached(
  cmd: string,
  args: string[],
  logFile: string,
  needle: string,
  dataDir?: string,
): ChildProcess {
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const fd = fs.openSync(logFile, 'a');
  try {
    fs.writeSync(fd, `\n--- ${new Date().toISOString()} ${cmd} ${args.join(' ')}\n`);
    const child = spawn(cmd, args, {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', fd, fd],
      env: process.env,
    });
    child.on('error', () => {
      /* reported via the exit watcher below */
    });
    child.unref();
    if (child.pid !== undefined) spawnedHere.push({ pid: child.pid, needle, name: path.basename(cmd), dataDir });
    return child;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Polls `probe` until it returns true, the child exits, or `timeoutMs` elapses.
 * Throws a ServicesError with the log tail on failure.
 */
async function waitReady(
  name: string,
  child: ChildProcess,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  logFile: string,
): Promise<void> {
  let exited: string | undefined;
  const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
    exited = signal ? `signal ${signal}` : `code ${code}`;
  };
  const onError = (err: Error): void => {
    exited = `spawn error: ${err.message}`;
  };
  child.once('exit', onExit);
  child.once('error', onError);
  const deadline = Date.now() + timeoutMs;
  try {
    while (Date.now() < deadline) {
      if (exited) break;
      if (await probe()) return;
      await sleep(150);
    }
  } finally {
    child.off('exit', onExit);
    child.off('error', onError);
  }
  if (!exited && child.pid !== undefined) signalTree(child.pid, 'SIGKILL');
  const why = exited ? `exited early (${exited})` : `did not become ready within ${timeoutMs / 1000}s`;
  const logTail = tail(logFile);
  throw new StartupError(`${name} ${why}. Log ${logFile}:\n${logTail}`, exited !== undefined);
}

/* ------------------------------------------------------------------------------------------ */
/* probes                                                                                      */
/* ------------------------------------------------------------------------------------------ */

/** True if a Redis server at `url` answers PING with PONG. */
async function redisAnswers(url: string, timeoutMs = 1_000): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  client.on('error', () => {
    /* handled via the rejected promises below */
  });
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** True if a MongoDB-wire server at `uri` answers `{ ping: 1 }`. */
async function mongoAnswers(uri: string, timeoutMs = 1_500): Promise<boolean> {
  let client: MongoClient | undefined;
  try {
    client = new MongoClient(uri, {
      serverSelectionTimeoutMS: timeoutMs,
      connectTimeoutMS: timeoutMs,
      socketTimeoutMS: timeoutMs * 2,
    });
    await client.connect();
    const res = await client.db('admin').command({ ping: 1 });
    return res.ok === 1;
  } catch {
    return false;
  } finally {
    await client?.close(true).catch(() => undefined);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* state file                                                                                  */
/* ------------------------------------------------------------------------------------------ */

/** Reads .services/state.json, or undefined if missing/corrupt. */
function readState(): State | undefined {
  try {
    const parsed = JSON.parse(fs.readFileSync(STATE_FILE, 'utf8')) as Partial<State>;
    if (parsed.redis?.url && parsed.mongo?.uri) return parsed as State;
  } catch {
    /* missing or unreadable */
  }
  return undefined;
}

/** Atomically writes .services/state.json. */
function writeState(state: State): void {
  fs.mkdirSync(SERVICES_DIR, { recursive: true });
  const tmp = `${STATE_FILE}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  fs.renameSync(tmp, STATE_FILE);
}

/** Removes .services/state.json if present. */
function removeState(): void {
  fs.rmSync(STATE_FILE, { force: true });
}

/** True if a recorded entry we started still has a live process (external entries: n/a). */
function ownedPidAlive(entry: { origin: Origin; pid?: number }): boolean {
  return entry.origin !== 'started' || (entry.pid !== undefined && isAlive(entry.pid));
}

/* ------------------------------------------------------------------------------------------ */
/* Redis                                                                                       */
/* ------------------------------------------------------------------------------------------ */

/** Starts a private redis-server on a free loopback port and waits for PING. */
async function startRedis(redisServer: string): Promise<RedisEntry> {
  const logFile = path.join(SERVICES_DIR, 'redis.log');
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    log(`starting ${redisServer} on 127.0.0.1:${port} (log: ${path.relative(ROOT, logFile)})`);
    const child = spawnDetached(
      redisServer,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
      logFile,
      'redis-server',
    );
    try {
      await waitReady('redis-server', child, () => redisAnswers(url, 500), REDIS_START_TIMEOUT_MS, logFile);
      return { url, origin: 'started', pid: child.pid, logFile };
    } catch (err) {
      // The port may have been grabbed between freePort() and bind; retry a couple of times.
      // A crash right away is most likely the port being taken since freePort(); retry then.
      if (attempt >= 3 || !(err instanceof StartupError && err.exitedEarly)) throw err;
      log(`${err.message.split('\n')[0]}; retrying on another port`);
    }
  }
}

/** Resolves a Redis URL following the documented order, starting redis-server if needed. */
async function ensureRedis(
  previous: RedisEntry | undefined,
  transient: boolean,
): Promise<{ entry: RedisEntry; started: boolean }> {
  const fromEnv = process.env.REDIS_URL;
  if (fromEnv) {
    if (!(await redisAnswers(fromEnv))) log(`warning: REDIS_URL=${fromEnv} does not answer PING (using it anyway)`);
    // Superseded by the env var; `up` stops it (it would drop out of the state file), `run` leaves it.
    if (previous && !transient) await stopRedis(previous);
    return { entry: { url: fromEnv, origin: 'external' }, started: false };
  }
  // Only reuse what a previous `up` started; external entries are re-resolved (env / 6379) each time.
  if (previous?.origin === 'started' && ownedPidAlive(previous) && (await redisAnswers(previous.url))) {
    log(`reusing Redis at ${previous.url}${previous.pid ? ` (pid ${previous.pid})` : ''}`);
    return { entry: previous, started: false };
  }
  if (previous) await stopRedis(previous); // stale leftovers from a crashed/killed session
  const defaultUrl = 'redis://127.0.0.1:6379';
  if (await redisAnswers(defaultUrl)) {
    log(`using the Redis already running at ${defaultUrl}`);
    return { entry: { url: defaultUrl, origin: 'external' }, started: false };
  }
  const redisServer = which('redis-server');
  if (!redisServer) {
    throw new ServicesError(
      'No Redis available: REDIS_URL is unset, nothing answers on 127.0.0.1:6379 and redis-server ' +
        'is not on PATH.\n  Fix: apt-get install redis-server   (or set REDIS_URL)' +
        // Report both problems at once rather than one per attempt.
        (mongoObtainable() ? '' : `\n${noMongoMessage()}`),
    );
  }
  return { entry: await startRedis(redisServer), started: true };
}

/* ------------------------------------------------------------------------------------------ */
/* MongoDB wire: FerretDB / mongodb-memory-server                                              */
/* ------------------------------------------------------------------------------------------ */

/** Cache path used by scripts/build-ferretdb.sh. */
function ferretdbCachePath(): string {
  const cacheRoot = process.env.AICD_CACHE_DIR || path.join(os.homedir(), '.cache', 'aicd-orchestrator');
  return path.join(cacheRoot, `ferretdb-${FERRETDB_VERSION}`, 'ferretdb');
}

/** True if `bin` is an executable that runs `--version` successfully. */
function binaryRuns(bin: string): boolean {
  const res = spawnSync(bin, ['--version'], { stdio: 'ignore', timeout: 10_000 });
  return res.status === 0;
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
  log(`building FerretDB ${FERRETDB_VERSION} (first run only; output follows)`);
  const res = spawnSync('bash', [path.join(ROOT, 'scripts', 'build-ferretdb.sh')], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
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
    const dataDir = path.join(FERRETDB_DATA_ROOT, String(port));
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.mkdirSync(dataDir, { recursive: true });
    const uri = `mongodb://127.0.0.1:${port}/`;
    log(`starting FerretDB on 127.0.0.1:${port} (data: ${path.relative(ROOT, dataDir)}, log: ${path.relative(ROOT, logFile)})`);
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
      FERRETDB_NEEDLE,
      dataDir,
    );
    try {
      await waitReady('FerretDB', child, () => mongoAnswers(uri, 1_000), FERRETDB_START_TIMEOUT_MS, logFile);
      return { uri, origin: 'started', kind: 'ferretdb', pid: child.pid, dataDir, logFile };
    } catch (err) {
      fs.rmSync(dataDir, { recursive: true, force: true });
      // A crash right away is most likely the port being taken since freePort(); retry then.
      if (attempt >= 3 || !(err instanceof StartupError && err.exitedEarly)) throw err;
      log(`${err.message.split('\n')[0]}; retrying on another port`);
    }
  }
}

/** Resolved path of an installed mongodb-memory-server, or undefined. */
function resolveMms(): string | undefined {
  for (const name of ['mongodb-memory-server', 'mongodb-memory-server-core']) {
    try {
      return require.resolve(name, { paths: [ROOT] });
    } catch {
      /* not installed */
    }
  }
  return undefined;
}

/**
 * Starts mongodb-memory-server inside a small detached node host process (MMS must stay alive
 * in-process). The host writes the URI to a file, which we poll before pinging.
 */
async function startMms(modulePath: string): Promise<MongoEntry> {
  const logFile = path.join(SERVICES_DIR, 'mongodb-memory-server.log');
  const uriFile = path.join(SERVICES_DIR, `mms-uri.${process.pid}.txt`);
  fs.rmSync(uriFile, { force: true });
  const host = `
    const fs = require('fs');
    const { MongoMemoryServer } = require(${JSON.stringify(modulePath)});
    MongoMemoryServer.create({ instance: { ip: '127.0.0.1' } }).then((srv) => {
      fs.writeFileSync(${JSON.stringify(uriFile)}, srv.getUri());
      const stop = () => srv.stop().finally(() => process.exit(0));
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
      setInterval(() => {}, 1 << 30);
    }, (err) => { console.error(err); process.exit(1); });
  `;
  log(`starting mongodb-memory-server (log: ${path.relative(ROOT, logFile)})`);
  const child = spawnDetached(process.execPath, ['-e', host, MMS_NEEDLE], logFile, MMS_NEEDLE);
  let uri = '';
  await waitReady(
    'mongodb-memory-server',
    child,
    async () => {
      if (!uri) {
        try {
          uri = fs.readFileSync(uriFile, 'utf8').trim();
        } catch {
          return false;
        }
      }
      return uri !== '' && (await mongoAnswers(uri, 1_000));
    },
    MMS_START_TIMEOUT_MS,
    logFile,
  );
  fs.rmSync(uriFile, { force: true });
  return { uri, origin: 'started', kind: 'mongodb-memory-server', pid: child.pid, logFile };
}

/** Resolves a MongoDB URI following the documented order, starting a server if needed. */
async function ensureMongo(
  previous: MongoEntry | undefined,
  transient: boolean,
): Promise<{ entry: MongoEntry; started: boolean }> {
  const fromEnv = process.env.MONGODB_URI;
  if (fromEnv) {
    if (!(await mongoAnswers(fromEnv))) log(`warning: MONGODB_URI does not answer ping (using it anyway)`);
    if (previous && !transient) await stopMongo(previous);
    return { entry: { uri: fromEnv, origin: 'external', kind: 'external' }, started: false };
  }
  if (previous?.origin === 'started' && ownedPidAlive(previous) && (await mongoAnswers(previous.uri))) {
    log(`reusing ${previous.kind} at ${previous.uri}${previous.pid ? ` (pid ${previous.pid})` : ''}`);
    return { entry: previous, started: false };
  }
  if (previous) await stopMongo(previous); // stale leftovers from a crashed/killed session
  const ferretdb = findFerretdb();
  if (ferretdb) return { entry: await startFerretdb(ferretdb), started: true };
  const mms = resolveMms();
  if (mms) return { entry: await startMms(mms), started: true };
  throw new ServicesError(noMongoMessage());
}

/** Error text when no MongoDB-wire server can be obtained. */
function noMongoMessage(): string {
  return (
    'No MongoDB-wire server available: MONGODB_URI is unset, no FerretDB binary ($FERRETDB_BIN or ' +
    `${ferretdbCachePath()}) and no 'go' to build one, and mongodb-memory-server is not installed.\n` +
    '  Fix: install Go (https://go.dev/dl) so FerretDB can be built, or set MONGODB_URI, ' +
    'or npm i -D mongodb-memory-server (needs internet)'
  );
}

/** Cheap check (no build, no spawn) whether ensureMongo() could possibly succeed. */
function mongoObtainable(): boolean {
  const ferretdbBin = process.env.FERRETDB_BIN;
  return Boolean(
    process.env.MONGODB_URI ||
      (ferretdbBin && fs.existsSync(ferretdbBin)) ||
      fs.existsSync(ferretdbCachePath()) ||
      which('go') ||
      resolveMms() ||
      readState()?.mongo,
  );
}

/** Stops a Mongo entry we started and removes its data dir; external entries are left alone. */
async function stopMongo(entry: MongoEntry): Promise<void> {
  if (entry.origin !== 'started') return;
  if (entry.pid !== undefined) {
    await stopPid(entry.pid, entry.kind, entry.kind === 'ferretdb' ? FERRETDB_NEEDLE : MMS_NEEDLE);
  }
  if (entry.dataDir && path.resolve(entry.dataDir).startsWith(SERVICES_DIR + path.sep)) {
    fs.rmSync(entry.dataDir, { recursive: true, force: true });
    try {
      fs.rmdirSync(FERRETDB_DATA_ROOT); // only succeeds when empty
    } catch {
      /* other instances' data, or already gone */
    }
  }
}

/** Stops a Redis entry we started; external entries are left alone. */
async function stopRedis(entry: RedisEntry): Promise<void> {
  if (entry.origin === 'started' && entry.pid !== undefined) {
    await stopPid(entry.pid, 'redis-server', 'redis-server');
  }
}

/* ------------------------------------------------------------------------------------------ */
/* commands                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/**
 * Ensures both services, records them in the state file and reports what was started now.
 * `transient` (used by `run`) never stops or un-records services owned by a separate `up` session.
 */
async function up(transient = false): Promise<UpResult> {
  const previous = readState();
  const redis = await ensureRedis(previous?.redis, transient);
  let mongo: { entry: MongoEntry; started: boolean };
  try {
    mongo = await ensureMongo(previous?.mongo, transient);
  } catch (err) {
    if (redis.started) await stopRedis(redis.entry); // don't leak a half-started environment
    throw err;
  }
  const state: State = { redis: redis.entry, mongo: mongo.entry, updatedAt: new Date().toISOString() };
  const supersedesLive = (prev: RedisEntry | MongoEntry | undefined, next: RedisEntry | MongoEntry): boolean =>
    prev?.origin === 'started' && prev.pid !== next.pid && ownedPidAlive(prev);
  if (transient && (supersedesLive(previous?.redis, state.redis) || supersedesLive(previous?.mongo, state.mongo))) {
    // `run` with env overrides must not clobber the record of services a separate `up` owns.
    log('keeping .services/state.json of the running `up` session untouched');
  } else {
    writeState(state);
  }
  return { state, startedRedis: redis.started, startedMongo: mongo.started };
}

/** Prints the export-able KEY=VALUE lines on stdout. */
function printEnv(state: State): void {
  process.stdout.write(`REDIS_URL=${state.redis.url}\nMONGODB_URI=${state.mongo.uri}\n`);
}

/** Stops everything recorded as started in the state file and removes the state file. */
async function down(): Promise<void> {
  const state = readState();
  if (!state) {
    log('nothing to stop (no .services/state.json)');
    return;
  }
  await stopRedis(state.redis);
  await stopMongo(state.mongo);
  removeState();
  log('services down');
}

/** Prints the URLs from the state file; exits 1 if there is none or our processes died. */
function env(): number {
  const state = readState();
  if (!state) {
    log('no services recorded; run `tsx scripts/services.ts up` first');
    return 1;
  }
  if (!ownedPidAlive(state.redis) || !ownedPidAlive(state.mongo)) {
    log('recorded services are no longer running; run `tsx scripts/services.ts up` again');
    return 1;
  }
  printEnv(state);
  return 0;
}

/** Maps a signal name to the conventional 128+N exit status. */
function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (os.constants.signals[signal] ?? 1);
}

/** Kills every service process this invocation spawned (used when startup is interrupted). */
async function killSpawnedHere(): Promise<void> {
  for (const p of spawnedHere.splice(0)) {
    await stopPid(p.pid, p.name, p.needle);
    if (p.dataDir) fs.rmSync(p.dataDir, { recursive: true, force: true });
  }
}

/**
 * Runs `up(transient)` so that SIGINT/SIGTERM during startup kills whatever was already spawned
 * (services are detached, so they would otherwise outlive us) and exits 128+N.
 */
async function upInterruptibly(transient: boolean): Promise<UpResult> {
  const onSignal = (signal: NodeJS.Signals): void => {
    log(`received ${signal} during startup; cleaning up`);
    void killSpawnedHere().finally(() => process.exit(signalExitCode(signal)));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const result = await up(transient);
    spawnedHere.length = 0; // now recorded in the state file / owned by the caller
    return result;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * `run -- <cmd> [args...]`: up, run the command with REDIS_URL/MONGODB_URI, then stop only what
 * this invocation started (reused services stay up). SIGINT/SIGTERM are forwarded to the
 * command; cleanup happens once it exits. Resolves to the command's exit code (128+N on signal).
 */
async function run(argv: string[]): Promise<number> {
  const cmdArgs = argv[0] === '--' ? argv.slice(1) : argv;
  if (cmdArgs.length === 0) throw new ServicesError('usage: tsx scripts/services.ts run -- <cmd> [args...]');

  const { state, startedRedis, startedMongo } = await upInterruptibly(true);

  log(`running: ${cmdArgs.join(' ')}`);
  const child = spawn(cmdArgs[0], cmdArgs.slice(1), {
    stdio: 'inherit',
    env: {
      ...process.env,
      // Like npm scripts: let `run -- jest ...` find local binaries even when not started via npm.
      PATH: [path.join(ROOT, 'node_modules', '.bin'), process.env.PATH ?? ''].join(path.delimiter),
      REDIS_URL: state.redis.url,
      MONGODB_URI: state.mongo.uri,
    },
  });
  const onSignal = (signal: NodeJS.Signals): void => {
    if (child.exitCode === null && child.signalCode === null) {
      log(`received ${signal}; forwarding to ${cmdArgs[0]}`);
      child.kill(signal);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const code = await new Promise<number>((resolve) => {
    child.once('error', (err) => {
      log(`failed to start ${cmdArgs[0]}: ${err.message}`);
      resolve(127);
    });
    child.once('exit', (exitCode, signal) => resolve(signal ? signalExitCode(signal) : (exitCode ?? 1)));
  });

  // Keep absorbing signals while cleaning up so a second Ctrl-C doesn't leave services behind.
  if (startedRedis) await stopRedis(state.redis);
  if (startedMongo) await stopMongo(state.mongo);
  // Drop the state file if it is still the one we wrote, unless it records a process a previous
  // `up` started and we merely reused (then `down` must still be able to stop that one later).
  const keepsOwnedReuse =
    (!startedRedis && state.redis.origin === 'started') || (!startedMongo && state.mongo.origin === 'started');
  if (readState()?.updatedAt === state.updatedAt && !keepsOwnedReuse) removeState();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  return code;
}

/** CLI entry point. */
async function main(): Promise<number> {
  const [cmd, ...rest] = process.argv.slice(2);
  switch (cmd) {
    case 'up': {
      const { state } = await upInterruptibly(false);
      printEnv(state);
      return 0;
    }
    case 'down':
      await down();
      return 0;
    case 'env':
      return env();
    case 'run':
      return run(rest);
    default:
      process.stderr.write(
        'usage: tsx scripts/services.ts <up|down|env|run -- <cmd> [args...]>\n' +
          '  up    ensure Redis + MongoDB-wire server; print REDIS_URL= / MONGODB_URI= lines\n' +
          '  down  stop what `up` started\n' +
          '  env   print the recorded URLs (exit 1 if none)\n' +
          '  run   up, run the command with the URLs in env, stop what was started, exit with its code\n',
      );
      return cmd === undefined || cmd === '-h' || cmd === '--help' ? 0 : 2;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof ServicesError) log(`error: ${err.message}`);
    else log(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
