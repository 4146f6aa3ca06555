import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import Redis from 'ioredis';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { redisOptionsFromUrl, withTimeout } from '../queues/redis-connection';
import type { StoredTenantEvent, TenantEvent } from './tenant-event';

/** Field of a stream entry holding the event as JSON. */
const FIELD = 'e';

/** Entries read per XRANGE / XREAD call. */
export const READ_BATCH = 500;

/** Parses the `[id, [field, value, ...]]` entries of XRANGE / XREAD; skips malformed ones. */
export function parseEntries(entries: [string, string[]][]): StoredTenantEvent[] {
  const out: StoredTenantEvent[] = [];
  for (const [id, fields] of entries) {
    const i = fields.indexOf(FIELD);
    if (i < 0 || i + 1 >= fields.length) continue;
    try {
      out.push({ id, event: JSON.parse(fields[i + 1]) as TenantEvent, json: fields[i + 1] });
    } catch {
      // not ours: skip
    }
  }
  return out;
}

/**
 * Each tenant's events in a Redis Stream, `<QUEUE_PREFIX>:events:<tenantId>` (Redis docs,
 * "Redis Streams": XADD with `MAXLEN ~` trims approximately, in whole macro nodes). Writers append
 * without waiting (an event is a notification: the record in MongoDB stays the truth); readers
 * resume after any entry id still kept, so an SSE client reconnecting with Last-Event-ID misses
 * nothing younger than the last EVENTS_STREAM_MAXLEN entries.
 */
@Injectable()
export class TenantEventLog implements OnApplicationShutdown {
  private readonly log = new Logger(TenantEventLog.name);
  private writer?: Redis;
  private lastWarn = 0;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  /** The stream key of a tenant. */
  key(tenantId: string): string {
    return `${this.config.QUEUE_PREFIX}:events:${tenantId}`;
  }

  /** A new connection to the configured Redis (callers own it; errors are swallowed). */
  connection(): Redis {
    const redis = new Redis({ ...redisOptionsFromUrl(this.config.REDIS_URL), maxRetriesPerRequest: 1 });
    redis.on('error', () => undefined);
    return redis;
  }

  private client(): Redis {
    return (this.writer ??= this.connection());
  }

  /** Appends `event` to the tenant's stream without waiting; a failure is logged (at most every 5 s). */
  append(tenantId: string, event: TenantEvent): void {
    this.client()
      .xadd(this.key(tenantId), 'MAXLEN', '~', String(this.config.EVENTS_STREAM_MAXLEN), '*', FIELD, JSON.stringify(event))
      .catch((e: unknown) => {
        if (Date.now() - this.lastWarn < 5000) return;
        this.lastWarn = Date.now();
        this.log.warn(`tenant event not stored: ${e instanceof Error ? e.message : String(e)}`);
      });
  }

  /**
   * Up to `count` entries after `afterId` (exclusive), oldest first.
   * @throws when Redis does not answer within 2 s.
   */
  async after(tenantId: string, afterId: string, count = READ_BATCH): Promise<StoredTenantEvent[]> {
    const entries = await withTimeout(this.client().xrange(this.key(tenantId), `(${afterId}`, '+', 'COUNT', count), 2000, 'redis');
    return parseEntries(entries);
  }

  /** Id of the oldest entry still kept, or null for an empty stream. @throws when Redis does not answer. */
  async oldestId(tenantId: string): Promise<string | null> {
    const entries = await withTimeout(this.client().xrange(this.key(tenantId), '-', '+', 'COUNT', 1), 2000, 'redis');
    return entries[0]?.[0] ?? null;
  }

  /** Id of the newest entry, or `0-0` for an empty stream. @throws when Redis does not answer. */
  async newestId(tenantId: string): Promise<string> {
    const entries = await withTimeout(this.client().xrevrange(this.key(tenantId), '+', '-', 'COUNT', 1), 2000, 'redis');
    return entries[0]?.[0] ?? '0-0';
  }

  /** Last of the shutdown hooks: the commits of the workers' drain (beforeApplicationShutdown) are still appended. */
  onApplicationShutdown(): void {
    this.writer?.disconnect();
  }
}
