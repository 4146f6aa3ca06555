/**
 * Local backing services (Redis + a MongoDB-wire server) for dev, tests, demo and CI,
 * without Docker.
 *
 * Usage (run with tsx):
 *
 *   tsx scripts/services.ts up            # ensure services, print REDIS_URL=... / MONGODB_URI=...
 *   tsx scripts/services.ts down          # stop what `up` started (pre-existing services untouched)
 *   tsx scripts/services.ts env           # print the URLs recorded by `up`, or exit 1
 *   tsx scripts/services.ts run [--demote=<provider>] -- <cmd> [args...]
 *                                         # up, run <cmd> with the URLs in env, then down
 *                                         # (only what this invocation started); a demoted
 *                                         # provider is tried last (npm test: documentdb)
 *
 * Load the URLs into a shell:  `export $(npx tsx scripts/services.ts up)`
 *
 * MongoDB-wire server, in this order (scripts/services/providers/index.ts; SERVICES_PROVIDER=
 * uri|testcontainers|memory-server|documentdb|ferretdb-v1 forces one, and fails if it cannot run):
 * $MONGODB_URI → testcontainers (a container runtime answers) → mongodb-memory-server (its mongod
 * can be had) → FerretDB v2 + DocumentDB (../shared/docdb or $DOCDB_DIR) → FerretDB v1 built with
 * Go. A server a previous `up` started is reused while it lives.
 * Redis: $REDIS_URL → testcontainers' Redis → the one a previous `up` started → 127.0.0.1:6379 →
 * a `redis-server` it starts (scripts/services/redis.ts).
 *
 * What `run` started is stopped when the command exits, fails or is interrupted (SIGINT, SIGTERM
 * and SIGHUP are forwarded to the command; cleanup follows its exit); an interrupted startup
 * stops what it had started. Services are spawned detached (own process group) so a Ctrl-C
 * aimed at the wrapped command does not hit them.
 *
 * Logs go to stderr; stdout carries only the KEY=VALUE lines (for `up`/`env`) or the wrapped
 * command's own output (for `run`).
 */
import { spawn } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureMongo, stopMongo } from './services/mongo';
import { handOverStartedHere, stopStartedHere } from './services/process';
import { mongoServerName } from './services/probes';
import { chooseProvider, providerName } from './services/providers';
import { ensureRedis, stopRedis } from './services/redis';
import { ownedPidAlive, readState, removeState, writeState, type MongoEntry, type ProviderName, type RedisEntry, type State } from './services/state';
import { log, ROOT, ServicesError } from './services/util';

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Result of `up`: the effective state plus which entries this invocation spawned. */
interface UpResult {
  state: State;
  startedRedis: boolean;
  startedMongo: boolean;
}

/**
 * Ensures both services, records them in the state file and reports what was started now.
 * `transient` (used by `run`) never stops or un-records services owned by a separate `up` session.
 */
async function up(transient = false, demoted: ProviderName[] = []): Promise<UpResult> {
  const previous = readState();
  const chosen = await chooseProvider(demoted); // detection first: nothing starts when no server can
  const mongo = await ensureMongo(chosen, previous?.mongo, transient);
  let redis: { entry: RedisEntry; started: boolean };
  try {
    redis = mongo.redis && !process.env.REDIS_URL ? { entry: mongo.redis, started: mongo.started } : await ensureRedis(previous?.redis, transient);
  } catch (err) {
    if (mongo.started) await stopMongo(mongo.entry); // don't leak a half-started environment
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
  const name = await mongoServerName(state.mongo.uri);
  log(`MongoDB-wire server at ${state.mongo.uri}: ${name ?? 'did not answer buildInfo'}; Redis at ${state.redis.url}`);
  return { state, startedRedis: redis.started && !redis.entry.viaProvider, startedMongo: mongo.started };
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

/**
 * Runs `up(transient)` so that a signal during startup stops whatever was already started
 * (services are detached, so they would otherwise outlive us) and exits 128+N.
 */
async function upInterruptibly(transient: boolean, demoted: ProviderName[] = []): Promise<UpResult> {
  const onSignal = (signal: NodeJS.Signals): void => {
    log(`received ${signal} during startup; cleaning up`);
    void stopStartedHere().finally(() => process.exit(signalExitCode(signal)));
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  try {
    const result = await up(transient, demoted);
    handOverStartedHere(); // now recorded in the state file / owned by the caller
    return result;
  } catch (err) {
    await stopStartedHere();
    throw err;
  } finally {
    for (const s of SIGNALS) process.off(s, onSignal);
  }
}

/**
 * `run -- <cmd> [args...]`: up, run the command with REDIS_URL/MONGODB_URI, then stop only what
 * this invocation started (reused services stay up). Signals are forwarded to the command;
 * cleanup happens once it exits. Resolves to the command's exit code (128+N on signal).
 */
async function run(argv: string[]): Promise<number> {
  const demoted: ProviderName[] = [];
  while (argv[0]?.startsWith('--demote=')) demoted.push(...argv.shift()!.slice('--demote='.length).split(',').map((v) => providerName(v, '--demote')));
  const cmdArgs = argv[0] === '--' ? argv.slice(1) : argv;
  if (cmdArgs.length === 0) throw new ServicesError('usage: tsx scripts/services.ts run [--demote=<provider>] -- <cmd> [args...]');

  const { state, startedRedis, startedMongo } = await upInterruptibly(true, demoted);
  let child: ReturnType<typeof spawn> | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (child && child.exitCode === null && child.signalCode === null) {
      log(`received ${signal}; forwarding to ${cmdArgs[0]}`);
      child.kill(signal);
    }
  };
  // Installed until cleanup is done, so a second Ctrl-C does not leave services behind.
  for (const s of SIGNALS) process.on(s, onSignal);
  try {
    log(`running: ${cmdArgs.join(' ')}`);
    child = spawn(cmdArgs[0], cmdArgs.slice(1), {
      stdio: 'inherit',
      env: {
        ...process.env,
        // Like npm scripts: let `run -- jest ...` find local binaries even when not started via npm.
        PATH: [path.join(ROOT, 'node_modules', '.bin'), process.env.PATH ?? ''].join(path.delimiter),
        REDIS_URL: state.redis.url,
        MONGODB_URI: state.mongo.uri,
      },
    });
    const started = child;
    return await new Promise<number>((resolve) => {
      started.once('error', (err) => {
        log(`failed to start ${cmdArgs[0]}: ${err.message}`);
        resolve(127);
      });
      started.once('exit', (exitCode, signal) => resolve(signal ? signalExitCode(signal) : (exitCode ?? 1)));
    });
  } finally {
    if (startedRedis) await stopRedis(state.redis);
    if (startedMongo) await stopMongo(state.mongo);
    // Drop the state file if it is still the one we wrote, unless it records a process a previous
    // `up` started and we merely reused (then `down` must still be able to stop that one later).
    const keepsOwnedReuse = (!startedRedis && state.redis.origin === 'started' && !state.redis.viaProvider) || (!startedMongo && state.mongo.origin === 'started');
    if (readState()?.updatedAt === state.updatedAt && !keepsOwnedReuse) removeState();
    for (const s of SIGNALS) process.off(s, onSignal);
  }
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
        'usage: tsx scripts/services.ts <up|down|env|run [--demote=<provider>] -- <cmd> [args...]>\n' +
          '  up    ensure Redis + MongoDB-wire server; print REDIS_URL= / MONGODB_URI= lines\n' +
          '  down  stop what `up` started\n' +
          '  env   print the recorded URLs (exit 1 if none)\n' +
          '  run   up, run the command with the URLs in env, stop what was started, exit with its code\n' +
          '  SERVICES_PROVIDER=uri|testcontainers|memory-server|documentdb|ferretdb-v1 forces the MongoDB-wire server\n',
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
