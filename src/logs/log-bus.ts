import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import Redis from 'ioredis';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { redisOptionsFromUrl } from '../queues/redis-connection';
import type { LogPublisher } from './attempt-log-writer';
import type { JobLogLine } from './job-log.repository';

/**
 * Live log lines over Redis pub/sub, one channel per job (`<QUEUE_PREFIX>:logs:<jobId>`): workers
 * publish every stored chunk's lines; API processes subscribe while an SSE client tails the job.
 * Pub/sub loses messages while a subscriber is disconnected; tails therefore read MongoDB first
 * and resume from the last line id they sent (see JobLogsService.tail).
 */
@Injectable()
export class LogBus implements LogPublisher, OnModuleDestroy {
  private readonly log = new Logger(LogBus.name);
  private publisher?: Redis;
  private subscriber?: Redis;
  private readonly listeners = new Map<string, Set<(lines: JobLogLine[]) => void>>();
  private readonly publishListeners: ((tenantId: string, jobId: string, lines: JobLogLine[]) => void)[] = [];

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  private channel(jobId: string): string {
    return `${this.config.QUEUE_PREFIX}:logs:${jobId}`;
  }

  private connection(): Redis {
    const redis = new Redis({ ...redisOptionsFromUrl(this.config.REDIS_URL), maxRetriesPerRequest: 1, lazyConnect: false });
    redis.on('error', () => undefined);
    return redis;
  }

  /**
   * Calls `listener` in this process with every batch this process publishes (the tenant event
   * stream adds itself here). A listener must not throw; one that does is logged and skipped.
   */
  onPublish(listener: (tenantId: string, jobId: string, lines: JobLogLine[]) => void): void {
    this.publishListeners.push(listener);
  }

  publish(jobId: string, lines: JobLogLine[], tenantId: string): void {
    for (const l of this.publishListeners) {
      try {
        l(tenantId, jobId, lines);
      } catch (e) {
        this.log.warn(`log publish listener failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    this.publisher ??= this.connection();
    this.publisher.publish(this.channel(jobId), JSON.stringify(lines)).catch((e: unknown) => this.log.debug(`log publish failed: ${String(e)}`));
  }

  /** Calls `listener` with every published batch of the job's lines until the returned function is called. */
  async subscribe(jobId: string, listener: (lines: JobLogLine[]) => void): Promise<() => void> {
    if (!this.subscriber) {
      this.subscriber = this.connection();
      this.subscriber.on('message', (channel: string, text: string) => {
        const id = channel.slice(channel.lastIndexOf(':') + 1);
        let lines: JobLogLine[];
        try {
          lines = JSON.parse(text) as JobLogLine[];
        } catch {
          return;
        }
        for (const l of this.listeners.get(id) ?? []) l(lines);
      });
    }
    let set = this.listeners.get(jobId);
    if (!set) {
      this.listeners.set(jobId, (set = new Set()));
      await this.subscriber.subscribe(this.channel(jobId));
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(jobId) === set) {
        this.listeners.delete(jobId);
        void this.subscriber?.unsubscribe(this.channel(jobId)).catch(() => undefined);
      }
    };
  }

  onModuleDestroy(): void {
    this.publisher?.disconnect();
    this.subscriber?.disconnect();
  }
}
