'use strict';
/**
 * The raw-queue peer of the pipeline phase (bench/lib/pipelines.ts): BullMQ's own FlowProducer
 * doing the same 20-step fan-out/fan-in as the orchestrator's template, with no-op processors.
 *
 * A BullMQ flow is a tree whose parents run after all their children, and a job has one parent,
 * so `prep → 18 parallel steps → join` (prep shared by the 18) is not one flow. The faithful
 * equivalent: `prep` is a plain job (added by the bench, as POST /runs starts a run); its
 * processor, on completion, adds the flow `join ← 18 children` (as the orchestrator's worker,
 * after a step's commit, sends the messages of the steps that became ready); BullMQ moves `join`
 * to wait when the last child completes. One queue and one Worker for every step, with the
 * orchestrator's step-message options (deterministic id `<run>-<step>-v1`, attempts 1,
 * exponential backoff, the same retention) and its concurrency (PIPELINE_STEP_CONCURRENCY).
 * Plain JavaScript so that it runs on `node` exactly like `node dist/main.js`.
 *
 * Env: REDIS_URL, QUEUE_PREFIX, BENCH_CONCURRENCY, BENCH_FAN (18).
 */
const { FlowProducer, Worker } = require('bullmq');

const url = new URL(process.env.REDIS_URL || 'redis://127.0.0.1:6379');
const connection = { host: url.hostname, port: Number(url.port || 6379), db: Number(url.pathname.slice(1) || 0) };
const prefix = process.env.QUEUE_PREFIX;
if (!prefix) throw new Error('QUEUE_PREFIX is required');
const concurrency = Number(process.env.BENCH_CONCURRENCY || 8);
const fan = Number(process.env.BENCH_FAN || 18);
const QUEUE = 'pipeline-steps';
/** As BullStepMessages (src/runs/step-queue.ts) sends a step with the template's default retries. */
const opts = (jobId) => ({
  jobId,
  attempts: 1,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 24 * 3600, count: 50_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
});
const fans = Array.from({ length: fan }, (_, i) => `f${String(i + 1).padStart(2, '0')}`);
const message = (runId, step) => ({ runId, tenantId: 'bench', step, templateStep: step, visit: 1 });

const flows = new FlowProducer({ connection, prefix });
const worker = new Worker(
  QUEUE,
  async (job) => {
    const { runId, step } = job.data;
    if (step === 'prep') {
      await flows.add({
        name: 'join',
        queueName: QUEUE,
        data: message(runId, 'join'),
        opts: opts(`${runId}-join-v1`),
        children: fans.map((f) => ({ name: f, queueName: QUEUE, data: message(runId, f), opts: opts(`${runId}-${f}-v1`) })),
      });
    }
    return { outcome: 'succeeded', runId, step, visit: 1 };
  },
  { connection, prefix, concurrency, autorun: false },
);
worker.on('error', (e) => console.error(`flow peer worker: ${e.message}`));
void worker.run();
console.log(`flow peer worker running (${QUEUE}×${concurrency}, fan-out ${fan})`);

async function shutdown() {
  await worker.close();
  await flows.close();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
