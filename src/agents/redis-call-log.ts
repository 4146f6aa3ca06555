import type { OnApplicationShutdown } from '@nestjs/common';
import Redis from 'ioredis';
import { redisOptionsFromUrl, withTimeout } from '../queues/redis-connection';
import type { MockCallLog, MockCallLogEntry } from './mock.agent';

/** How long a call waits for its log line at most, ms (the log never blocks a call for long). */
const RECORD_TIMEOUT_MS = 1000;

/**
 * The MockAgent's cross-process call log: RPUSHes each {@link MockCallLogEntry} as JSON to the
 * Redis list `key` (MOCK_AGENT_CALL_LOG_KEY). For tests that count agent calls across worker
 * processes; off by default. A line that cannot be written within 1 s is dropped.
 */
export class RedisMockCallLog implements MockCallLog, OnApplicationShutdown {
  private readonly redis: Redis;

  constructor(
    url: string,
    private readonly key: string,
  ) {
    this.redis = new Redis({ ...redisOptionsFromUrl(url), lazyConnect: false, maxRetriesPerRequest: 1 });
    this.redis.on('error', () => undefined);
  }

  async record(entry: MockCallLogEntry): Promise<void> {
    try {
      await withTimeout(this.redis.rpush(this.key, JSON.stringify(entry)), RECORD_TIMEOUT_MS, 'redis');
    } catch {
      // A test log: losing a line while Redis is down is acceptable, blocking the call is not.
    }
  }

  onApplicationShutdown(): void {
    this.redis.disconnect();
  }
}
