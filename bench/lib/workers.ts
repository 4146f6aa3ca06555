import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { procCpuMs, procRss, sleep } from './measure';

const PRELOAD = path.join(__dirname, 'preload.cjs');

/** What a worker process reports over IPC (see preload.cjs). */
export interface WorkerStats {
  /** process.cpuUsage(), µs. */
  cpu: { user: number; system: number };
  rss: number;
  heapUsed: number;
  heapTotal?: number;
  /** Memory outside the V8 heap: C++ objects bound to JS, Buffers (arrayBuffers). */
  external?: number;
  arrayBuffers?: number;
  /** Peak RSS over the process's life, bytes. */
  maxRss: number;
  /** MongoDB commands sent, by command name (only with BENCH_MONGO_MONITOR=1). */
  mongo: Record<string, number>;
  /** The same by `<command> <collection>` (e.g. `update runs`), and the ms those commands took (send → reply). */
  mongoByCollection?: Record<string, number>;
  mongoMsByCollection?: Record<string, number>;
}

/**
 * A worker process spawned by the bench (`node [BENCH_WORKER_NODE_ARGS] -r preload.cjs <entry> ...args`;
 * e.g. BENCH_WORKER_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile the workers).
 */
export class WorkerProcess {
  private readonly child: ChildProcess;
  private readonly tail: string[] = [];
  private nextId = 0;
  private readonly waiting = new Map<number, (s: WorkerStats) => void>();
  exited: string | undefined;

  constructor(
    readonly label: string,
    entry: string,
    args: string[],
    env: NodeJS.ProcessEnv,
  ) {
    const nodeArgs = (process.env.BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
    this.child = spawn(process.execPath, [...nodeArgs, '-r', PRELOAD, entry, ...args], { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        this.tail.push(line);
        if (this.tail.length > 40) this.tail.shift();
      }
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    // However the bench ends (SIGINT, the watchdog, a crash), the worker does not outlive it.
    const killOnExit = () => {
      if (!this.exited) this.child.kill('SIGKILL');
    };
    process.on('exit', killOnExit);
    this.child.on('exit', (code, signal) => {
      this.exited = signal ? `signal ${signal}` : `code ${code}`;
      process.off('exit', killOnExit);
    });
    this.child.on('message', (m: { type?: string; id?: number } & WorkerStats) => {
      if (m?.type !== 'stats' || m.id === undefined) return;
      this.waiting.get(m.id)?.(m);
      this.waiting.delete(m.id);
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The last lines the process printed. */
  output(): string {
    return this.tail.join('\n');
  }

  /** Waits until the process printed a line containing `marker`. @throws when it exits first or after 60 s. */
  async ready(marker: string): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (!this.tail.some((l) => l.includes(marker))) {
      if (this.exited) throw new Error(`${this.label} exited (${this.exited}) before ready:\n${this.output()}`);
      if (Date.now() > deadline) throw new Error(`${this.label} not ready after 60 s:\n${this.output()}`);
      await sleep(50);
    }
  }

  /** Asks the process for its counters (IPC); falls back to /proc when it does not answer in 5 s. */
  async stats(): Promise<WorkerStats> {
    const id = this.nextId++;
    const reply = new Promise<WorkerStats>((resolve) => this.waiting.set(id, resolve));
    this.child.send({ type: 'stats', id });
    const timeout = sleep(5000).then(() => undefined);
    const s = await Promise.race([reply, timeout]);
    if (s) return s;
    this.waiting.delete(id);
    const cpuMs = procCpuMs(this.pid);
    const mem = procRss(this.pid);
    return { cpu: { user: cpuMs * 1000, system: 0 }, rss: mem.rss, heapUsed: NaN, maxRss: mem.peak, mongo: {} };
  }

  /** SIGTERM, then SIGKILL after 10 s. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
    if (!this.exited) {
      this.child.kill('SIGKILL');
      await Promise.race([exited, sleep(2000)]);
    }
  }
}

/** Sum of the processes' system (kernel) CPU, ms. */
export function systemCpuMs(stats: WorkerStats[]): number {
  return stats.reduce((a, s) => a + s.cpu.system / 1000, 0);
}

/** Sum of CPU time (ms) and counters over several workers' stats. */
export function totalCpuMs(stats: WorkerStats[]): number {
  return stats.reduce((a, s) => a + (s.cpu.user + s.cpu.system) / 1000, 0);
}
