import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import Redis from 'ioredis';
import { hostname } from 'node:os';
import { APP_CONFIG, type AppConfig } from '../config/config';
import type { Stage } from '../lifecycle/job.types';
import { ToolBreakers, type BreakerState } from '../tools/tool-breakers';
import { redisOptionsFromUrl, withTimeout } from './redis-connection';
import { WORKER_ID } from './worker-id';
import { SERVED_STAGES } from './worker-launcher';

/** A worker process as it announces itself every HEARTBEAT_MS. */
export interface WorkerEntry {
  id: string;
  host: string;
  pid: number;
  /** Stages whose messages it takes. */
  stages: Stage[];
  /** ISO-8601. */
  startedAt: string;
  /** ISO-8601 time of its last heartbeat. */
  heartbeatAt: string;
  /** Its tools' circuit breakers (per process: each worker learns on its own). */
  breakers: Record<string, BreakerState>;
}

/**
 * The live workers, in the Redis hash `<QUEUE_PREFIX>:workers` (field = worker id, value = a
 * {@link WorkerEntry} as JSON). Each worker process rewrites its entry every HEARTBEAT_MS and
 * removes it on shutdown; an entry older than 3 × HEARTBEAT_MS is a worker that died (it is shown
 * as gone and pruned after 10 ×). `/healthz` reads it for circuit-breaker states across processes.
 */
@Injectable()
export class WorkerRegistry implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger(WorkerRegistry.name);
  private redis?: Redis;
  private timer?: NodeJS.Timeout;
  private readonly startedAt = new Date().toISOString();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(WORKER_ID) private readonly workerId: string,
    @Inject(SERVED_STAGES) private readonly stages: Stage[],
    private readonly breakers: ToolBreakers,
  ) {}

  private get key(): string {
    return `${this.config.QUEUE_PREFIX}:workers`;
  }

  private client(): Redis {
    if (!this.redis) {
      this.redis = new Redis({ ...redisOptionsFromUrl(this.config.REDIS_URL), maxRetriesPerRequest: 1, lazyConnect: false });
      this.redis.on('error', () => undefined);
    }
    return this.redis;
  }

  onApplicationBootstrap(): void {
    if (!this.stages.length) return; // an API-only process is not a worker
    void this.announce();
    this.timer = setInterval(() => void this.announce(), this.config.HEARTBEAT_MS);
    this.timer.unref();
    this.breakers.onStateChange(() => void this.announce());
  }

  /** This process's entry now. */
  entry(): WorkerEntry {
    return {
      id: this.workerId,
      host: hostname(),
      pid: process.pid,
      stages: [...this.stages],
      startedAt: this.startedAt,
      heartbeatAt: new Date().toISOString(),
      breakers: this.breakers.states(),
    };
  }

  private async announce(): Promise<void> {
    try {
      await withTimeout(this.client().hset(this.key, this.workerId, JSON.stringify(this.entry())), 2000, 'redis');
    } catch (e) {
      this.log.debug(`worker heartbeat not written: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /**
   * Every announced worker, live ones first, with `alive` = heartbeat within 3 × HEARTBEAT_MS.
   * Entries older than 10 × HEARTBEAT_MS are removed. @throws when Redis does not answer.
   */
  async list(): Promise<(WorkerEntry & { alive: boolean })[]> {
    const all = await withTimeout(this.client().hgetall(this.key), 2000, 'redis');
    const now = Date.now();
    const out: (WorkerEntry & { alive: boolean })[] = [];
    const gone: string[] = [];
    for (const [id, text] of Object.entries(all)) {
      let entry: WorkerEntry;
      try {
        entry = JSON.parse(text) as WorkerEntry;
      } catch {
        gone.push(id);
        continue;
      }
      const age = now - Date.parse(entry.heartbeatAt);
      if (age > 10 * this.config.HEARTBEAT_MS) gone.push(id);
      else out.push({ ...entry, alive: age <= 3 * this.config.HEARTBEAT_MS });
    }
    if (gone.length) await this.client().hdel(this.key, ...gone).catch(() => undefined);
    return out.sort((a, b) => Number(b.alive) - Number(a.alive) || a.id.localeCompare(b.id));
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    if (this.stages.length) await this.client().hdel(this.key, this.workerId).catch(() => undefined);
    this.redis?.disconnect();
  }
}
