import Redis from 'ioredis';
import { MongoClient } from 'mongodb';

/**
 * Removes what one script run stored: drops the MongoDB database `prefix` and deletes the Redis
 * keys `<prefix>:*` (its BullMQ queues and event streams). Best effort: a server that does not
 * answer within ~3 s is reported through `warn`, never thrown, so a cleanup cannot hide the
 * error that led to it.
 */
export async function dropRunData(mongoUri: string, redisUrl: string, prefix: string, warn: (line: string) => void): Promise<void> {
  const mongo = new MongoClient(mongoUri, { serverSelectionTimeoutMS: 3_000 });
  try {
    await mongo.db(prefix).dropDatabase();
  } catch (e) {
    warn(`warning: could not drop database ${prefix}: ${(e as Error).message}`);
  } finally {
    await mongo.close().catch(() => undefined);
  }
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } catch (e) {
    warn(`warning: could not delete Redis keys ${prefix}:*: ${(e as Error).message}`);
  } finally {
    redis.disconnect();
  }
}
