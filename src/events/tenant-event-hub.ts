import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import type Redis from 'ioredis';
import { APP_CONFIG, type AppConfig } from '../config/config';
import type { StoredTenantEvent } from './tenant-event';
import { parseEntries, READ_BATCH, TenantEventLog } from './tenant-event-log';

type Listener = (events: StoredTenantEvent[]) => void;

/** One tenant's shared reader: a blocking connection and the listeners it feeds. */
interface TenantReader {
  redis: Redis;
  listeners: Set<Listener>;
  /** Id of the last entry read. */
  position: string;
  stopped: boolean;
}

/** ms one XREAD blocks before it asks again (also bounds how long a stopped reader lingers). */
const BLOCK_MS = 5000;

/**
 * Fans a tenant's event stream out to every SSE client of this process: one XREAD BLOCK loop (one
 * Redis connection) per tenant with clients, however many clients it has, so 100 dashboards cost
 * Redis one reader. The loop starts at the newest entry when the first client subscribes and stops
 * when the last one leaves. After each read it waits EVENTS_COALESCE_MS (unless the read was full),
 * so while commits stream in, a client gets one write per window rather than one per commit: at
 * 100 clients the writes, not the reads, are the fan-out's cost (BENCHMARKS.md, "SSE fan-out").
 */
@Injectable()
export class TenantEventHub implements OnModuleDestroy {
  private readonly log = new Logger(TenantEventHub.name);
  private readonly readers = new Map<string, Promise<TenantReader>>();

  constructor(
    private readonly events: TenantEventLog,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Calls `listener` with every batch of the tenant's events appended from now on, until the
   * returned function is called. Resolves once the reader's start position is fixed, so an event
   * appended after that is delivered. @throws when Redis does not answer.
   */
  async subscribe(tenantId: string, listener: Listener): Promise<() => void> {
    let pending = this.readers.get(tenantId);
    if (!pending) {
      pending = this.start(tenantId);
      this.readers.set(tenantId, pending);
      pending.catch(() => this.readers.delete(tenantId));
    }
    const reader = await pending;
    // The last client may have left (and stopped this reader) while we waited: start another.
    if (reader.stopped) return this.subscribe(tenantId, listener);
    reader.listeners.add(listener);
    return () => {
      reader.listeners.delete(listener);
      if (reader.listeners.size === 0 && this.readers.get(tenantId) === pending) {
        this.readers.delete(tenantId);
        this.stop(reader);
      }
    };
  }

  private async start(tenantId: string): Promise<TenantReader> {
    const position = await this.events.newestId(tenantId);
    const reader: TenantReader = { redis: this.events.connection(), listeners: new Set(), position, stopped: false };
    void this.loop(tenantId, reader);
    return reader;
  }

  private async loop(tenantId: string, reader: TenantReader): Promise<void> {
    const key = this.events.key(tenantId);
    while (!reader.stopped) {
      try {
        const result = (await reader.redis.xread('COUNT', READ_BATCH, 'BLOCK', BLOCK_MS, 'STREAMS', key, reader.position)) as [string, [string, string[]][]][] | null;
        if (!result || reader.stopped) continue;
        const entries = result[0]?.[1] ?? [];
        if (!entries.length) continue;
        reader.position = entries[entries.length - 1][0];
        const batch = parseEntries(entries);
        for (const l of batch.length ? [...reader.listeners] : []) {
          try {
            l(batch);
          } catch (e) {
            this.log.warn(`event listener failed: ${e instanceof Error ? e.message : String(e)}`);
          }
        }
        const coalesceMs = this.config.EVENTS_COALESCE_MS;
        if (coalesceMs > 0 && entries.length < READ_BATCH && !reader.stopped) await new Promise((r) => setTimeout(r, coalesceMs).unref());
      } catch (e) {
        if (reader.stopped) return;
        this.log.debug(`event reader of ${tenantId}: ${e instanceof Error ? e.message : String(e)} (retrying)`);
        await new Promise((r) => setTimeout(r, 500).unref());
      }
    }
  }

  private stop(reader: TenantReader): void {
    reader.stopped = true;
    reader.redis.disconnect();
  }

  onModuleDestroy(): void {
    for (const p of this.readers.values()) void p.then((r) => this.stop(r)).catch(() => undefined);
    this.readers.clear();
  }
}
