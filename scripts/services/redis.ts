/**
 * Redis: $REDIS_URL → the one a previous `up` started → something answering PING on
 * 127.0.0.1:6379 → a `redis-server` spawned on a free loopback port (log: .services/redis.log).
 */
import * as path from 'node:path';
import { freePort } from '../lib/free-port';
import { spawnDetached, stopPid, waitReady } from './process';
import { redisAnswers } from './probes';
import { ownedPidAlive, type RedisEntry } from './state';
import { log, ROOT, SERVICES_DIR, ServicesError, StartupError, which } from './util';

const REDIS_START_TIMEOUT_MS = 10_000;

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
      // A crash right away is most likely the port being taken since freePort(); retry then.
      if (attempt >= 3 || !(err instanceof StartupError && err.exitedEarly)) throw err;
      log(`${err.message.split('\n')[0]}; retrying on another port`);
    }
  }
}

/**
 * Resolves a Redis URL following the order above, starting redis-server if needed.
 * `transient` (`run`) never stops a previous `up` session's Redis.
 */
export async function ensureRedis(previous: RedisEntry | undefined, transient: boolean): Promise<{ entry: RedisEntry; started: boolean }> {
  const fromEnv = process.env.REDIS_URL;
  if (fromEnv) {
    if (!(await redisAnswers(fromEnv))) log(`warning: REDIS_URL=${fromEnv} does not answer PING (using it anyway)`);
    // Superseded by the env var; `up` stops it (it would drop out of the state file), `run` leaves it.
    if (previous && !transient) await stopRedis(previous);
    return { entry: { url: fromEnv, origin: 'external' }, started: false };
  }
  // Only reuse what a previous `up` started; external entries are re-resolved (env / 6379) each time.
  if (previous?.origin === 'started' && !previous.viaProvider && ownedPidAlive(previous) && (await redisAnswers(previous.url))) {
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
        'is not on PATH.\n  Fix: apt-get install redis-server   (or set REDIS_URL)',
    );
  }
  return { entry: await startRedis(redisServer), started: true };
}

/** Stops a Redis entry we started; external entries and a provider's Redis are left alone. */
export async function stopRedis(entry: RedisEntry): Promise<void> {
  if (entry.origin === 'started' && !entry.viaProvider && entry.pid !== undefined) {
    await stopPid(entry.pid, 'redis-server', 'redis-server');
  }
}
