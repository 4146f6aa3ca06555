/** The MongoDB-wire server of `up`/`run`: reuse what a previous `up` started, else start the chosen provider's. */
import { mongoAnswers } from './probes';
import { provider, type MongoProvider } from './providers';
import { ownedPidAlive, type MongoEntry, type RedisEntry } from './state';
import { log } from './util';

/**
 * Resolves the server with `chosen` (providers/index.ts chooseProvider): a live server of the same
 * provider that a previous `up` started is reused; a stale record is stopped (and a live one of
 * another provider too, unless `transient`: `run` never stops a separate `up` session's server).
 */
export async function ensureMongo(
  chosen: MongoProvider,
  previous: MongoEntry | undefined,
  transient: boolean,
): Promise<{ entry: MongoEntry; redis?: RedisEntry; started: boolean }> {
  if (previous?.origin === 'started' && previous.provider === chosen.name && ownedPidAlive(previous) && (await mongoAnswers(previous.uri))) {
    log(`reusing ${chosen.title} at ${previous.uri}${previous.pid ? ` (pid ${previous.pid})` : ''}`);
    return { entry: previous, started: false };
  }
  if (previous && (!transient || !ownedPidAlive(previous))) await stopMongo(previous);
  const started = await chosen.start();
  return { entry: started.mongo, redis: started.redis, started: started.mongo.origin === 'started' };
}

/** Stops a server we started (its provider's way); external entries are left alone. */
export async function stopMongo(entry: MongoEntry): Promise<void> {
  if (entry.origin !== 'started') return;
  await provider(entry.provider).stop(entry);
}
