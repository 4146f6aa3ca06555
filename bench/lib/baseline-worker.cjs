'use strict';
/**
 * The raw-BullMQ baseline worker: a chain of BENCH_CHAIN_STAGES no-op stages (queues `s1`..`sN`
 * under QUEUE_PREFIX); the processor of stage k adds the message to stage k+1. Same job options
 * (deterministic job id, attempts, exponential backoff, retention), the same per-stage
 * concurrency and one Queue + one Worker per stage, like an orchestrator worker process.
 * Plain JavaScript so that it runs on `node` exactly like `node dist/main.js`.
 *
 * Env: REDIS_URL, QUEUE_PREFIX, BENCH_CHAIN_STAGES, BENCH_CONCURRENCY, STAGE_ATTEMPTS, STAGE_BACKOFF_MS.
 */
const { Queue, Worker } = require('bullmq');

const url = new URL(process.env.REDIS_URL || 'redis://127.0.0.1:6379');
const connection = { host: url.hostname, port: Number(url.port || 6379), db: Number(url.pathname.slice(1) || 0) };
const prefix = process.env.QUEUE_PREFIX;
const stages = Number(process.env.BENCH_CHAIN_STAGES || 4);
const concurrency = Number(process.env.BENCH_CONCURRENCY || 4);
const jobOptions = {
  attempts: Number(process.env.STAGE_ATTEMPTS || 3),
  backoff: { type: 'exponential', delay: Number(process.env.STAGE_BACKOFF_MS || 1000) },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: false,
};
if (!prefix) throw new Error('QUEUE_PREFIX is required');

const queues = [];
const workers = [];
for (let k = 1; k <= stages; k++) queues.push(new Queue(`s${k}`, { connection, prefix }));
for (let k = 1; k <= stages; k++) {
  const next = k < stages ? queues[k] : null;
  const worker = new Worker(
    `s${k}`,
    async (job) => {
      if (!next) return 'done';
      const data = { ...job.data, stage: `s${k + 1}`, version: k };
      await next.add(`s${k + 1}`, data, { ...jobOptions, jobId: `${data.id}-s${k + 1}-${k}` });
      return 'next';
    },
    { connection, prefix, concurrency, autorun: false },
  );
  worker.on('error', (e) => console.error(`worker s${k}: ${e.message}`));
  workers.push(worker);
}
for (const w of workers) void w.run();
console.log(`baseline worker running stages: ${workers.map((w) => w.name).join(', ')}`);

async function shutdown() {
  await Promise.all(workers.map((w) => w.close()));
  await Promise.all(queues.map((q) => q.close()));
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
