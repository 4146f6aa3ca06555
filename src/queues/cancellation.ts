import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import Redis from 'ioredis';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { CancellationBus } from '../jobs/stage-dispatcher.port';
import { redisOptionsFromUrl } from './redis-connection';
import { RecentCommits } from './recent-commits';

/**
 * Why a running call was aborted from outside its stage: the job was cancelled, the worker is
 * shutting down, or the attempt was declared dead by the sweeper (`lost`: its heartbeat was too
 * old, another attempt runs the stage).
 */
export type AbortCause = 'cancelled' | 'shutdown' | 'lost';

/** The AbortControllers of the agent calls running in this process, by job id. */
@Injectable()
export class RunningCalls {
  private readonly running = new Map<string, Set<AbortController>>();
  private readonly causes = new WeakMap<AbortController, AbortCause>();
  /** Set when the process starts shutting down: stage runs stop continuing to the next stage. */
  closing = false;

  /** Why `controller` was aborted by {@link abort} / {@link abortAll}, if it was. */
  causeOf(controller: AbortController): AbortCause | undefined {
    return this.causes.get(controller);
  }

  /** Aborts every running call (shutdown grace period over). @returns how many. */
  abortAll(reason: string): number {
    let n = 0;
    for (const set of this.running.values()) {
      for (const c of set) {
        if (!this.causes.has(c)) this.causes.set(c, 'shutdown');
        c.abort(new Error(reason));
        n++;
      }
    }
    return n;
  }

  /** Aborts one call whose attempt was declared dead (see AttemptHandle): its result must not be used. */
  lose(controller: AbortController): void {
    if (!this.causes.has(controller)) this.causes.set(controller, 'lost');
    controller.abort(new Error('attempt declared dead: its heartbeat was too old'));
  }

  /** Job id → the version its cancelling commit created, for the last 10,000 cancels seen here. */
  private readonly cancelledAt = new Map<string, number>();

  /**
   * Registers a running call on the job's record at `version`; the returned function unregisters
   * it. A cancel seen here before the call registered, committed after that version (the
   * stage read the job just before the cancel committed), aborts it at once.
   */
  track(jobId: string, controller: AbortController, version?: number): () => void {
    let set = this.running.get(jobId);
    if (!set) this.running.set(jobId, (set = new Set()));
    set.add(controller);
    const cancelled = this.cancelledAt.get(jobId);
    if (version !== undefined && cancelled !== undefined && version < cancelled) {
      this.causes.set(controller, 'cancelled');
      controller.abort(new Error('job cancelled'));
    }
    return () => {
      set.delete(controller);
      if (set.size === 0) this.running.delete(jobId);
    };
  }

  /**
   * Aborts every call of `jobId` running here, and any that registers later on a version before
   * `cancelledVersion` (the version the cancelling commit created; unknown = none).
   * @returns how many were aborted.
   */
  abort(jobId: string, reason: string, cancelledVersion?: number): number {
    if (cancelledVersion !== undefined) {
      this.cancelledAt.delete(jobId);
      this.cancelledAt.set(jobId, cancelledVersion);
      if (this.cancelledAt.size > 10_000) this.cancelledAt.delete(this.cancelledAt.keys().next().value!);
    }
    const set = this.running.get(jobId);
    if (!set) return 0;
    for (const c of set) {
      if (!this.causes.has(c)) this.causes.set(c, 'cancelled');
      c.abort(new Error(reason));
    }
    return set.size;
  }
}

/**
 * {@link CancellationBus} on Redis pub/sub (channel `<QUEUE_PREFIX>:cancel`): every process
 * subscribes and aborts the job's calls it runs (BullMQ alone only reaches the same process,
 * taskforcesh/bullmq#632). A missed message is harmless: the late result is discarded by the CAS.
 */
@Injectable()
export class RedisCancellationBus extends CancellationBus implements OnModuleInit, OnModuleDestroy {
  private readonly log = new Logger(RedisCancellationBus.name);
  private publisher?: Redis;
  private subscriber?: Redis;
  private readonly channel: string;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly running: RunningCalls,
    private readonly recent: RecentCommits,
  ) {
    super();
    this.channel = `${config.QUEUE_PREFIX}:cancel`;
  }

  async onModuleInit(): Promise<void> {
    const opts = { ...redisOptionsFromUrl(this.config.REDIS_URL), lazyConnect: true, maxRetriesPerRequest: 1 };
    this.publisher = new Redis(opts);
    this.subscriber = new Redis({ ...opts, maxRetriesPerRequest: null });
    this.publisher.on('error', () => undefined);
    this.subscriber.on('error', () => undefined);
    await this.subscriber.connect();
    await this.subscriber.subscribe(this.channel);
    this.subscriber.on('message', (_channel: string, text: string) => {
      const [jobId, version] = text.split(' ');
      this.recent.forget(jobId);
      const n = this.running.abort(jobId, 'job cancelled', version === undefined ? undefined : Number(version));
      if (n > 0) this.log.log(`aborted ${n} running call(s) of cancelled job ${jobId}`);
    });
  }

  async publish(jobId: string, version: number): Promise<void> {
    // Abort locally at once, then tell the other processes ("<jobId> <version>").
    this.recent.forget(jobId);
    this.running.abort(jobId, 'job cancelled', version);
    if (this.publisher!.status === 'wait') await this.publisher!.connect();
    await this.publisher!.publish(this.channel, `${jobId} ${version}`);
  }

  async onModuleDestroy(): Promise<void> {
    this.subscriber?.disconnect();
    this.publisher?.disconnect();
  }
}
