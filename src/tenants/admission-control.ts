import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import Redis from 'ioredis';
import { randomUUID } from 'node:crypto';
import { APP_CONFIG, type AppConfig } from '../config/config';
import type { JobRecord } from '../jobs/job.record';
import { JobRepository } from '../jobs/job.repository';
import { redisOptionsFromUrl } from '../queues/redis-connection';
import { TenantRepository } from './tenant.repository';

/** Whether a QUEUED job may start planning now. */
export type Admission = { admitted: true } | { admitted: false; retryInMs: number; reason: string };

/**
 * Port asked by the planning worker before a QUEUED job starts (START_PLANNING). When it says
 * no, the message is deferred (BullMQ `moveToDelayed` + `DelayedError`), without spending an
 * attempt, and the job stays QUEUED.
 */
export abstract class AdmissionControl {
  abstract admit(job: Pick<JobRecord, 'id' | 'tenantId'>): Promise<Admission>;
}

const ADMITTED: Admission = { admitted: true };
/** The admission lock is held for a count and one write; it expires by itself if its holder dies. */
const LOCK_TTL_MS = 5000;
const LOCK_TRIES = 5;
const LOCK_WAIT_MS = 20;
const UNLOCK = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

const jitter = (ms: number) => Math.max(1, Math.round(ms * (0.8 + Math.random() * 0.4)));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Per-tenant limit on active jobs (TENANT_MAX_ACTIVE_JOBS, or the tenant record's
 * `maxActiveJobs`; 0 = none). Active = PLANNING, CODING, REVIEWING or PR_OPEN, plus jobs admitted
 * to planning that are still QUEUED in the database (planning commits QUEUED→PLANNING→CODING in
 * one commit once the plan is done, so a job being planned is QUEUED there: admission marks it
 * JobRepository.markAdmitted so that it counts from the moment it is admitted).
 *
 * The decision is a count and a mark in MongoDB, made under a short per-tenant Redis lock
 * (`SET <prefix>:admission:<tenant> NX PX 5000`, released by compare-and-delete), so concurrent
 * planning workers of the same tenant decide one at a time and the limit is exact. Without the
 * lock the overshoot would be bounded by the number of planning slots deciding at once (the sum
 * of CONCURRENCY_PLANNING over worker processes, minus one); with it, only a lock that expires
 * while its holder still works (a count+write slower than 5 s) can let one more in.
 * A job admitted once is not asked again (retries, redeliveries after a crash).
 */
@Injectable()
export class ActiveJobLimit extends AdmissionControl implements OnModuleDestroy {
  private redis?: Redis;

  constructor(
    private readonly jobs: JobRepository,
    private readonly tenants: TenantRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    super();
  }

  /** The limit that applies to `tenantId` (0 = none); a change of the tenant record applies within TENANT_CACHE_MS (see CachedTenantRepository). */
  async limitOf(tenantId: string): Promise<number> {
    const tenant = await this.tenants.findById(tenantId);
    return tenant?.maxActiveJobs ?? this.config.TENANT_MAX_ACTIVE_JOBS;
  }

  async admit(job: Pick<JobRecord, 'id' | 'tenantId'>): Promise<Admission> {
    const limit = await this.limitOf(job.tenantId);
    if (limit === 0) return ADMITTED;
    if (await this.jobs.isAdmitted(job.id)) return ADMITTED;
    const key = `${this.config.QUEUE_PREFIX}:admission:${job.tenantId}`;
    const token = randomUUID();
    if (!(await this.lock(key, token))) {
      return { admitted: false, retryInMs: jitter(100), reason: `admission of tenant ${job.tenantId} is busy` };
    }
    try {
      const active = await this.jobs.countActive(job.tenantId);
      if (active >= limit) {
        return { admitted: false, retryInMs: jitter(this.config.TENANT_LIMIT_RETRY_MS), reason: `tenant ${job.tenantId} has ${active}/${limit} active jobs` };
      }
      await this.jobs.markAdmitted(job);
      return ADMITTED;
    } finally {
      await this.client()
        .eval(UNLOCK, 1, key, token)
        .catch(() => undefined); // expires by itself
    }
  }

  private async lock(key: string, token: string): Promise<boolean> {
    for (let i = 0; i < LOCK_TRIES; i++) {
      if ((await this.client().set(key, token, 'PX', LOCK_TTL_MS, 'NX')) === 'OK') return true;
      await sleep(LOCK_WAIT_MS);
    }
    return false;
  }

  private client(): Redis {
    if (!this.redis) {
      this.redis = new Redis({ ...redisOptionsFromUrl(this.config.REDIS_URL), maxRetriesPerRequest: 1 });
      this.redis.on('error', () => undefined); // the workers' own connections report outages
    }
    return this.redis;
  }

  onModuleDestroy(): void {
    this.redis?.disconnect();
  }
}
