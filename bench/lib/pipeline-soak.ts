/**
 * The pipeline phase's soak (issue "Pipelines": RSS flat over 10,000 runs): more runs on the same
 * service, its RSS (/proc) and heap sampled every `sampleS` seconds, judged by {@link rssFlatness}.
 */
import type Redis from 'ioredis';
import { readdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { median, procRss, redisInfoField } from './measure';
import { closedLoop, serviceStats, STEPS_PER_RUN } from './pipeline-sides';

const round = (x: number, d = 1) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : NaN);
const mb = (b: number) => round(b / 2 ** 20, 1);

export interface RssSample {
  /** Seconds since the soak started. */
  at: number;
  runs: number;
  rssMb: number;
  heapUsedMb: number;
}

export interface PipelineSoak {
  runs: number;
  unsuccessful: number;
  seconds: number;
  stepsPerSecond: number;
  sampleEveryS: number;
  samples: RssSample[];
  rss: ReturnType<typeof rssFlatness>;
  /** Entries left under PIPELINE_WORK_ROOT at the end (the sweeper removes ended runs' directories SWEEP_GRACE_MS after their last write, up to 100 per pass). */
  workDirsLeft: number;
  redisUsedMemoryMb: { start: number; end: number };
}

/**
 * RSS flatness over a soak. Warm-up = the samples before 10 % of the soak's runs were done;
 * start = median RSS of the samples from 10 % to 30 % of the runs; end = median of the samples
 * from 80 % of the runs on; growth = end / start − 1 (flat: < 10 %). Medians of windows, not single
 * samples, so a GC sawtooth does not decide it. Also the least-squares slope of RSS over runs after
 * the warm-up (MB per 1,000 runs), the first and last sample and the peak.
 */
export function rssFlatness(samples: RssSample[], totalRuns: number) {
  const window = (from: number, to: number, pick: (s: RssSample) => number = (s) => s.rssMb) => samples.filter((s) => s.runs >= from * totalRuns && s.runs <= to * totalRuns).map(pick);
  const after = samples.filter((s) => s.runs >= 0.1 * totalRuns);
  const start = median(window(0.1, 0.3));
  const end = median(window(0.8, 1));
  const n = after.length;
  const mx = after.reduce((a, s) => a + s.runs, 0) / n;
  const my = after.reduce((a, s) => a + s.rssMb, 0) / n;
  const slope = after.reduce((a, s) => a + (s.runs - mx) * (s.rssMb - my), 0) / after.reduce((a, s) => a + (s.runs - mx) ** 2, 0);
  const growthPct = round(((end - start) / start) * 100, 1);
  const heapStart = median(window(0.1, 0.3, (s) => s.heapUsedMb));
  const heapEnd = median(window(0.8, 1, (s) => s.heapUsedMb));
  return {
    /** The same windows' medians of the V8 heap in use. */
    heapUsed: { startMb: round(heapStart), endMb: round(heapEnd), growthPct: round(((heapEnd - heapStart) / heapStart) * 100, 1) },
    firstMb: samples[0]?.rssMb ?? NaN,
    startMb: round(start),
    endMb: round(end),
    lastMb: samples.at(-1)?.rssMb ?? NaN,
    peakMb: Math.max(...samples.map((s) => s.rssMb)),
    growthPct,
    slopeMbPer1000Runs: round(slope * 1000, 2),
    flat: Number.isFinite(growthPct) ? growthPct < 10 : null,
  };
}

/**
 * Runs `o.runs` runs with `run` (`o.parallel` in flight), sampling the service's RSS (`servicePid`)
 * and its heap (from `statsFile`) every `o.sampleS` seconds; counts what is left under `workRoot`
 * and Redis's `used_memory` before and after.
 */
export async function soakRuns(
  o: { runs: number; parallel: number; sampleS: number; log: (line: string) => void },
  run: () => Promise<boolean>,
  servicePid: number | undefined,
  statsFile: string,
  redis: Redis,
  workRoot: string,
): Promise<PipelineSoak> {
    o.log(`  soak: ${o.runs} runs, ${o.parallel} in flight, service RSS every ${o.sampleS} s`);
    const samples: RssSample[] = [];
    let done = 0;
    const t0 = performance.now();
    const sample = async () => {
      const heap = (await serviceStats(statsFile))?.heapUsed ?? NaN;
      samples.push({ at: round((performance.now() - t0) / 1000, 1), runs: done, rssMb: mb(procRss(servicePid).rss), heapUsedMb: mb(heap) });
    };
    const redisStart = mb(Number(await redisInfoField(redis, 'memory', 'used_memory')));
    await sample();
    const timer = setInterval(() => {
      void sample().then(() => {
        const last = samples.at(-1)!;
        if (samples.length % 6 === 0) o.log(`  soak: ${done} runs in ${last.at} s, RSS ${last.rssMb} MB, heapUsed ${last.heapUsedMb} MB`);
      });
    }, o.sampleS * 1000);
    let r;
    try {
      r = await closedLoop(o.runs, o.parallel, run, (d) => (done = d));
    } finally {
      clearInterval(timer);
    }
    await sample();
    const soak: PipelineSoak = {
      runs: o.runs,
      unsuccessful: r.unsuccessful,
      seconds: round(r.seconds),
      stepsPerSecond: round((o.runs * STEPS_PER_RUN) / r.seconds),
      sampleEveryS: o.sampleS,
      samples,
      rss: rssFlatness(samples, o.runs),
      workDirsLeft: readdirSync(workRoot).length,
      redisUsedMemoryMb: { start: redisStart, end: mb(Number(await redisInfoField(redis, 'memory', 'used_memory'))) },
    };
    o.log(`  soak: ${soak.runs} runs in ${soak.seconds} s (${soak.stepsPerSecond} steps/s); RSS start ${soak.rss.startMb} → end ${soak.rss.endMb} MB (${soak.rss.growthPct} %), peak ${soak.rss.peakMb} MB`);
  return soak;
}
