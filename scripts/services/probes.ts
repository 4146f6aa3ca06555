/** Liveness probes of the two services. */
import Redis from 'ioredis';
import { MongoClient } from 'mongodb';
import { describeStoreServer, storeServerName, type BuildInfo } from '../../src/jobs/store-server';

/** True if a Redis server at `url` answers PING with PONG. */
export async function redisAnswers(url: string, timeoutMs = 1_000): Promise<boolean> {
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
export async function mongoAnswers(uri: string, timeoutMs = 1_500): Promise<boolean> {
  let client: MongoClient | undefined;
  try {
    client = new MongoClient(uri, { serverSelectionTimeoutMS: timeoutMs, connectTimeoutMS: timeoutMs, socketTimeoutMS: timeoutMs * 2 });
    await client.connect();
    const res = await client.db('admin').command({ ping: 1 });
    return res.ok === 1;
  } catch {
    return false;
  } finally {
    await client?.close(true).catch(() => undefined);
  }
}

/**
 * The server's name and version from `buildInfo` (`FerretDB v2.7.0 (wire 7.0.77)`, `MongoDB 7.0.14`), for the
 * log line that says which server a run uses; undefined when it does not answer.
 */
export async function mongoServerName(uri: string, timeoutMs = 3_000): Promise<string | undefined> {
  let client: MongoClient | undefined;
  try {
    client = new MongoClient(uri, { serverSelectionTimeoutMS: timeoutMs, connectTimeoutMS: timeoutMs });
    await client.connect();
    return storeServerName(describeStoreServer((await client.db('admin').command({ buildInfo: 1 })) as BuildInfo));
  } catch {
    return undefined;
  } finally {
    await client?.close(true).catch(() => undefined);
  }
}
