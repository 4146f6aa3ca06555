/**
 * The two sides of the pipeline phase (bench/lib/pipelines.ts) and how the bench drives them:
 * the 20-step template, the closed loop, the orchestrator side (POST /runs on the service, run ends
 * read from the store) and the FlowProducer side (bench/lib/flow-peer-worker.cjs, run ends from
 * QueueEvents). Each side's `run()` starts one run and resolves when it has ended; it rejects when
 * its process is gone, so a dead service or peer fails the phase instead of waiting for the watchdog.
 */
import { type Collection } from 'mongodb';
import { Queue, QueueEvents } from 'bullmq';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ServiceProcess } from '../../scripts/lib/service-process';
import { sleep } from './measure';
import { WorkerProcess, type WorkerStats } from './workers';

export const TEMPLATE_NAME = 'bench-fan-20';
export const FAN = 18;
/** Steps per run: prep, the fan-out, join. */
export const STEPS_PER_RUN = FAN + 2;
const FANS = Array.from({ length: FAN }, (_, i) => `f${String(i + 1).padStart(2, '0')}`);
const noop = { name: 'noop' };
/** The 20-step fan-out/fan-in template of no-op function steps (src/runs/step-functions.ts `noop`; default retries: 1 attempt). */
export const BENCH_PIPELINE_TEMPLATE = {
  name: TEMPLATE_NAME,
  description: 'npm run bench: prep, 18 no-op steps in parallel, join.',
  maxParallel: 20,
  steps: [
    { id: 'prep', tool: 'function', with: noop },
    ...FANS.map((id) => ({ id, tool: 'function', with: noop, needs: ['prep'] })),
    { id: 'join', tool: 'function', with: noop, needs: FANS },
  ],
};
const ENDED = ['succeeded', 'failed', 'quarantined', 'canceled'];

/**
 * Runs `total` runs, `parallel` in flight: `run` starts one and resolves when it has ended (with
 * whether it succeeded). The first rejection stops every loop and rejects.
 */
export async function closedLoop(
  total: number,
  parallel: number,
  run: (i: number) => Promise<boolean>,
  onEnd?: (done: number) => void,
): Promise<{ seconds: number; unsuccessful: number; runMs: number[] }> {
  let next = 0;
  let done = 0;
  let unsuccessful = 0;
  let failed = false;
  const runMs: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(parallel, total) }, async () => {
      while (next < total && !failed) {
        const i = next++;
        const t = performance.now();
        let ok: boolean;
        try {
          ok = await run(i);
        } catch (e) {
          failed = true;
          throw e;
        }
        runMs.push(performance.now() - t);
        if (!ok) unsuccessful++;
        onEnd?.(++done);
      }
    }),
  );
  return { seconds: (performance.now() - t0) / 1000, unsuccessful, runMs };
}

/** Promises settled from outside, all failed at once when the side's process is gone. */
class Waiters {
  private readonly waiting = new Map<string, { resolve: (ok: boolean) => void; reject: (e: Error) => void; since: number }>();

  add(id: string): Promise<boolean> {
    return new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject, since: performance.now() }));
  }

  /** Settles `id`; returns how long it waited (ms), or undefined when it was not waiting. */
  settle(id: string, ok: boolean): number | undefined {
    const w = this.waiting.get(id);
    if (!w) return undefined;
    this.waiting.delete(id);
    w.resolve(ok);
    return performance.now() - w.since;
  }

  failAll(e: Error): void {
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }

  ids(): string[] {
    return [...this.waiting.keys()];
  }
}

/**
 * Watches runs in the store: one indexed `find` on `_id $in` the runs in flight, then a pause of 5 %
 * of the typical run (20–250 ms: its delay on a run's end stays ≤ 5 %, its own store load small).
 * Not through the API: `GET /runs/:id` costs the service a run read, a template read and one
 * `step_attempts` query per step (the progress ETA), which would be the bench's cost, not the pipeline's.
 */
class RunWatcher {
  private readonly waiters = new Waiters();
  private stopped = false;
  private typicalMs = 400;
  private readonly loop: Promise<void>;

  constructor(
    private readonly runs: Collection<{ _id: string; status: string }>,
    /** Why the service can no longer end runs (it exited), or undefined. */
    private readonly gone: () => string | undefined,
  ) {
    this.loop = this.watch().catch((e: unknown) => this.waiters.failAll(e instanceof Error ? e : new Error(String(e))));
  }

  private async watch(): Promise<void> {
    while (!this.stopped) {
      const why = this.gone();
      if (why) throw new Error(`the service exited during the pipeline phase (${why})`);
      const ids = this.waiters.ids();
      if (ids.length) {
        const ended = await this.runs.find({ _id: { $in: ids }, status: { $in: ENDED } }, { projection: { status: 1 } }).toArray();
        for (const r of ended) {
          const ms = this.waiters.settle(r._id, r.status === 'succeeded');
          if (ms !== undefined) this.typicalMs = 0.9 * this.typicalMs + 0.1 * ms;
        }
      }
      await sleep(Math.max(20, Math.min(250, this.typicalMs * 0.05)));
    }
  }

  wait(id: string): Promise<boolean> {
    return this.waiters.add(id);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    this.waiters.failAll(new Error('stopped'));
  }
}

/** The orchestrator side: the service (template saved) and a watcher of its runs. */
export class OrchestratorSide {
  private readonly watcher: RunWatcher;
  constructor(
    readonly service: ServiceProcess,
    runs: Collection<{ _id: string; status: string }>,
  ) {
    this.watcher = new RunWatcher(runs, () => service.exited);
  }

  /** Starts a run through the API; resolves when it has ended (true: succeeded). */
  async run(): Promise<boolean> {
    const res = await this.service.http<{ id: string; status: string }>('POST', '/runs', { 'x-tenant-id': 'bench' }, JSON.stringify({ template: TEMPLATE_NAME, inputs: {} }));
    if (res.status !== 201) throw new Error(`POST /runs → ${res.status} ${JSON.stringify(res.body)}`);
    return this.watcher.wait(res.body.id);
  }

  stop(): Promise<void> {
    return this.watcher.stop();
  }
}

/** The FlowProducer side: the worker process, the queue the bench adds `prep` jobs to, and the join completions. */
export class FlowSide {
  private readonly waiters = new Waiters();
  private serial = 0;
  private readonly liveness: NodeJS.Timeout;
  private constructor(
    readonly worker: WorkerProcess,
    private readonly queue: Queue,
    private readonly events: QueueEvents,
  ) {
    events.on('completed', ({ jobId }) => this.settle(jobId, true));
    events.on('failed', ({ jobId }) => this.settle(jobId, false));
    this.liveness = setInterval(() => {
      if (worker.exited) this.waiters.failAll(new Error(`the flow peer worker exited (${worker.exited}):\n${worker.output()}`));
    }, 500);
  }

  static async open(redisUrl: string, prefix: string, concurrency: number): Promise<FlowSide> {
    const u = new URL(redisUrl);
    const connection = { host: u.hostname, port: Number(u.port || 6379) };
    const worker = new WorkerProcess('flow-peer', path.join(__dirname, 'flow-peer-worker.cjs'), [], {
      PATH: process.env.PATH,
      REDIS_URL: redisUrl,
      QUEUE_PREFIX: prefix,
      BENCH_CONCURRENCY: String(concurrency),
      BENCH_FAN: String(FAN),
    });
    let queue: Queue | undefined;
    let events: QueueEvents | undefined;
    try {
      await worker.ready('flow peer worker running');
      queue = new Queue('pipeline-steps', { connection, prefix });
      events = new QueueEvents('pipeline-steps', { connection, prefix });
      await events.waitUntilReady();
      return new FlowSide(worker, queue, events);
    } catch (e) {
      await events?.close().catch(() => undefined);
      await queue?.close().catch(() => undefined);
      await worker.stop();
      throw e;
    }
  }

  /** A run ends with its join (or with any of its steps failing). */
  private settle(jobId: string, ok: boolean): void {
    const runId = jobId.replace(/-(prep|join|f\d\d)-v1$/, '');
    if (!ok || jobId.endsWith('-join-v1')) this.waiters.settle(runId, ok);
  }

  /** Starts a run (adds its `prep`); resolves when its join completed (or a step failed). */
  async run(): Promise<boolean> {
    if (this.worker.exited) throw new Error(`the flow peer worker exited (${this.worker.exited})`);
    const runId = `run${this.serial++}`;
    const ended = this.waiters.add(runId);
    ended.catch(() => undefined); // rejected by close() or a dead worker even when queue.add below threw
    await this.queue.add('prep', { runId, tenantId: 'bench', step: 'prep', templateStep: 'prep', visit: 1 }, {
      jobId: `${runId}-prep-v1`,
      attempts: 1,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: { age: 24 * 3600, count: 50_000 },
      removeOnFail: { age: 7 * 24 * 3600 },
    });
    return await ended;
  }

  async close(): Promise<void> {
    clearInterval(this.liveness);
    this.waiters.failAll(new Error('closed'));
    await this.events.close().catch(() => undefined);
    await this.queue.close().catch(() => undefined);
    await this.worker.stop();
  }
}

/** The service's counters (bench/lib/preload.cjs writes them to `file` every 500 ms): the first written after this call. */
export async function serviceStats(file: string): Promise<WorkerStats | undefined> {
  const asked = Date.now();
  for (let i = 0; i < 100; i++) {
    await sleep(50);
    try {
      const s = JSON.parse(readFileSync(file, 'utf8')) as WorkerStats & { at: number };
      if (s.at > asked) return s;
    } catch {
      /* not written yet */
    }
  }
  return undefined;
}

/**
 * SIGKILLs `pid` if the bench process exits without having stopped it (the watchdog's
 * process.exit, a crash, SIGINT/SIGTERM's exit in bench/run.ts); returns the unhook.
 */
export function killOnExit(pid: number | undefined): () => void {
  const hook = () => {
    try {
      if (pid) process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  };
  process.on('exit', hook);
  return () => process.off('exit', hook);
}
