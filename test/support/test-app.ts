import type { INestApplication } from '@nestjs/common';
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import Redis from 'ioredis';
import { MongoClient } from 'mongodb';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { MockAgent } from '../../src/agents/mock.agent';
import type { MockCall } from '../../src/agents/mock.agent';
import { createApp } from '../../src/bootstrap';
import { JobRepository } from '../../src/jobs/job.repository';
import { STAGES, type JobState, type Stage } from '../../src/lifecycle/job.types';
import { redisOptionsFromUrl } from '../../src/queues/redis-connection';
import { STAGE_QUEUE } from '../../src/queues/stage-queues';

/** A unique name for this test run's queue prefix and database. */
export function uniqueName(label: string): string {
  return `t_${label}_${randomBytes(4).toString('hex')}`;
}

export interface TestApp {
  app: INestApplication;
  http: ReturnType<typeof request>;
  prefix: string;
  dbName: string;
  jobs: JobRepository;
  mock: MockAgent;
  /** Every agent call, in order. */
  calls: MockCall[];
  queues: Queue[];
  close(): Promise<void>;
}

/**
 * Starts the real application (API + all stage workers) in-process on the real Redis and
 * MongoDB-wire server, with its own queue prefix and database, and a fast MockAgent.
 */
export async function startTestApp(
  label: string,
  env: Record<string, string> = {},
  options: { stages?: Stage[] } = {},
): Promise<TestApp> {
  const prefix = env.QUEUE_PREFIX ?? uniqueName(label);
  const dbName = env.MONGODB_DB ?? prefix;
  const app = await createApp({
    api: true,
    stages: options.stages ?? [...STAGES],
    env: {
      QUEUE_PREFIX: prefix,
      MONGODB_DB: dbName,
      MOCK_AGENT_DELAY_MS: '0',
      STAGE_BACKOFF_MS: '50',
      SWEEP_INTERVAL_MS: '0',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
      // Tests name tenants with X-Tenant-Id; API keys are tested in test/e2e/tenants.e2e.spec.ts.
      ALLOW_TENANT_HEADER: 'true',
      ...env,
    },
  });
  await app.init();
  const mock = app.get(MockAgent);
  const calls: MockCall[] = [];
  mock.onCall = (c) => calls.push(c);
  const queues = STAGES.map((s) => app.get<Queue>(getQueueToken(STAGE_QUEUE[s])));
  return {
    app,
    http: request(app.getHttpServer()),
    prefix,
    dbName,
    jobs: app.get(JobRepository),
    mock,
    calls,
    queues,
    async close() {
      await app.close();
      await dropTestData(prefix, dbName);
    },
  };
}

/** Deletes a test run's database and Redis keys. */
export async function dropTestData(prefix: string, dbName: string): Promise<void> {
  const mongo = await MongoClient.connect(process.env.MONGODB_URI!);
  try {
    await mongo.db(dbName).dropDatabase();
  } finally {
    await mongo.close();
  }
  const redis = new Redis(redisOptionsFromUrl(process.env.REDIS_URL!));
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** Polls `check` every 25 ms until it returns a value, or throws after `timeoutMs` with `describe()`. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs: number, describe: () => Promise<string> | string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${await describe()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Waits until every stage queue is drained (nothing waiting, delayed, prioritized or active),
 * twice in a row, with a hard timeout. Throws with the counts on timeout.
 */
export async function drainQueues(queues: Queue[], timeoutMs = 20_000): Promise<void> {
  let quiet = 0;
  const counts = async () =>
    Promise.all(
      queues.map(async (q) => {
        const c: Record<string, number> = await q.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children');
        return { q: q.name, busy: Object.values(c).reduce((a, b) => a + b, 0), ...c };
      }),
    );
  await eventually(
    async () => {
      const c = await counts();
      const busy = c.some((x) => x.busy > 0);
      quiet = busy ? 0 : quiet + 1;
      return quiet >= 2 ? true : undefined;
    },
    timeoutMs,
    async () => `queues still busy: ${JSON.stringify(await counts())}`,
  );
}

/** Waits until the job is in one of `states` (hard timeout), then returns it. */
export async function waitForState(t: TestApp, jobId: string, states: JobState[], timeoutMs = 20_000) {
  return eventually(
    async () => {
      const job = await t.jobs.findById(jobId);
      return job && states.includes(job.state) ? job : undefined;
    },
    timeoutMs,
    async () => `job ${jobId} is in ${(await t.jobs.findById(jobId))?.state}, wanted ${states.join('|')}`,
  );
}

/** A valid submission body; `body` carries MockAgent `mock:` directives. */
export function issueBody(n: number, body = '', extra: Record<string, unknown> = {}) {
  return {
    repositoryId: 'acme/widgets',
    issue: { id: String(n), title: `Issue ${n}: fix the widget`, body, url: `https://github.com/acme/widgets/issues/${n}` },
    ...extra,
  };
}
