/** The markdown tables `npm run bench` prints (bench/run.ts), one function per phase. */
import type { CliOverheadResult } from './cli-overhead';
import type { FanoutResult, JobListResult } from './dashboard';
import { round, type LatencyResult, type SaturatedResult, type VolumeResult } from './phases';
import type { StoreFloorResult } from './store-floor';
import type { PipelineResult } from './pipelines';
import type { BenchSystem } from './systems';


export function dashboardReport(l: (JobListResult & { store: string }) | undefined, f: (FanoutResult & { store: string }) | undefined): string {
  const lines = ['', `dashboard (store: ${l?.store ?? f?.store}):`, '', '| measure | p50 ms | p95 ms | target |', '|---|---:|---:|---|'];
  if (l) {
    lines.push(
      `| **job list, first page of 50 (${l.jobs} jobs of the tenant + ${l.otherTenantJobs} of another), GET /jobs over HTTP** | ${l.firstPageMs.p50} | ${l.firstPageMs.p95} | p50 ≤ 100 |`,
      `| raw baseline: the same query through the MongoDB driver alone | ${l.rawFirstPageMs.p50} | ${l.rawFirstPageMs.p95} | |`,
      `| a page 40 deep, by cursor | ${l.deepPageMs.p50} | ${l.deepPageMs.p95} | |`,
      `| state filter (FAILED) | ${l.stateFilterMs.p50} | ${l.stateFilterMs.p95} | |`,
      `| repository filter | ${l.repositoryFilterMs.p50} | ${l.repositoryFilterMs.p95} | |`,
      `| GET /jobs/counts (8 counts) | ${l.countsMs.p50} | ${l.countsMs.p95} | |`,
    );
  }
  if (f) {
    lines.push('', '| SSE fan-out | lifecycles/s | target |', '|---|---:|---|');
    lines.push(`| no SSE client (median of ${f.runs}) | ${f.withoutClients} | |`);
    lines.push(`| ${f.clients} clients on GET /events/stream (each got ≥ ${f.minCompletedEventsPerClient}/${f.jobs} COMPLETED events per round) | ${f.withClients} | |`);
    lines.push(`| **ratio** (of the medians) | ${f.ratio} | ≥ 0.9 |`);
    lines.push(`| each run's ratio (its two rounds back to back); median | ${f.pairedRatios.join(', ')}; ${f.medianPairedRatio} | |`);
  }
  return lines.join('\n');
}

export function cliReport(c: CliOverheadResult): string {
  return [
    '',
    `orchestration overhead around an agent CLI call (${c.jobs} lifecycles, no-op AGENT_CLI=custom, one at a time):`,
    '',
    '| measure | p50 ms | p95 ms | target |',
    '|---|---:|---:|---|',
    `| raw baseline: the no-op CLI spawned directly, spawn → exit | ${c.rawSpawnMs.p50} | ${c.rawSpawnMs.p95} | |`,
    `| the same CLI under the supervisor (process group, marker scan), spawn → exit | ${c.supervisedCliMs.p50} | ${c.supervisedCliMs.p95} | |`,
    `| **overhead, planning: spawn → stage committed, minus the CLI's own run time (raw p50)** | ${c.overheadMs.planning.p50} | ${c.overheadMs.planning.p95} | p50 ≤ 50 |`,
    `| of which after the CLI's exit (parse, artifact, attempt record, CAS commit) | ${c.afterExitMs.planning.p50} | ${c.afterExitMs.planning.p95} | |`,
    `| overhead, coding: the same (+ the orchestrator's git commit and diff artifact) | ${c.overheadMs.coding.p50} | ${c.overheadMs.coding.p95} | |`,
    `| of which after the CLI's exit | ${c.afterExitMs.coding.p50} | ${c.afterExitMs.coding.p95} | |`,
    `| before the spawn, planning: mirror fetch + worktree | ${c.preSpawnMs.planning.p50} | ${c.preSpawnMs.planning.p95} | |`,
    `| before the spawn, coding: worktree check + reset | ${c.preSpawnMs.coding.p50} | ${c.preSpawnMs.coding.p95} | |`,
    `| whole lifecycle, submit → COMPLETED | ${c.lifecycleMs.p50} | ${c.lifecycleMs.p95} | |`,
  ].join('\n');
}

/** CPU of every process of a saturated system per lifecycle, ms: worker, producer, Redis and the store. */
function totalCpu(r: SaturatedResult): number {
  return r.workerCpuMsPerLifecycle + r.producerCpuMsPerLifecycle + r.redisServerCpuMsPerLifecycle + (Number.isFinite(r.mongoServerCpuMsPerLifecycle) ? r.mongoServerCpuMsPerLifecycle : 0);
}

export function report(
  result: { label: string; versions: Record<string, unknown>; config: { runs: number; n: number; concurrency: number; rate: number; durationS: number }; ratios: Record<string, number>; likeForLike: { system: string; throughputRatio: number; p50Ratio: number }[]; volume?: VolumeResult; storeFloor?: StoreFloorResult; p50RatioBelowCapacity?: number; prefilled?: { jobsInCollection?: number }; agentBound?: { agentMs: number } },
  x: {
    p1: number;
    p2?: number;
    orch: BenchSystem;
    baseline: BenchSystem;
    baselines: BenchSystem[];
    satMed: Map<string, SaturatedResult>;
    latMed: Map<string, LatencyResult>;
  },
): string {
  const v = result.versions;
  const lines: string[] = [];
  lines.push(
    `node ${v.node}, bullmq ${v.bullmq}, xstate ${v.xstate}, mongodb driver ${v.mongodbDriver}, redis ${v.redis}, ${v.mongoWireServer}; nproc ${v.nproc} (${v.cpu}); commit ${v.commit}${v.dirty ? '+dirty' : ''}`,
  );
  lines.push(
    `median of ${result.config.runs} runs; N=${result.config.n} saturated, concurrency ${result.config.concurrency}/stage/process; latency open loop ${result.config.rate}/s for ${result.config.durationS} s${result.label ? `; ${result.label}` : ''}`,
  );
  lines.push('');
  lines.push('| system | procs | lifecycles/s | p50 ms | p90 ms | p99 ms | worker CPU ms/lc (of which kernel) | total CPU ms/lc | Mongo ops/lc | Redis cmds/lc | peak RSS MB |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const systems = [...x.baselines, x.orch];
  for (const p of [x.p1, x.p2].filter((p): p is number => p !== undefined)) {
    for (const s of systems) {
      const r = x.satMed.get(`${s.name}|${p}`) as (SaturatedResult & { peakRssMb?: number }) | undefined;
      if (!r) continue;
      const l = p === x.p1 ? x.latMed.get(s.name) : undefined;
      const cpuTotal = totalCpu(r);
      lines.push(
        `| ${s.name} | ${p} | ${r.lifecyclesPerSecond} | ${l?.p50 ?? '–'} | ${l?.p90 ?? '–'} | ${l?.p99 ?? '–'} | ${round(r.workerCpuMsPerLifecycle, 2)} (${round(r.workerSystemCpuMsPerLifecycle ?? NaN, 2)}) | ${round(cpuTotal, 2)} | ${round(r.mongoOpsPerLifecycle, 2)} | ${round(r.redisCommandsPerLifecycle, 1)} | ${r.peakRssMb ?? '–'} |`,
      );
    }
  }
  const f = result.storeFloor;
  if (f) {
    lines.push(
      `| store floor: a lifecycle's MongoDB work alone (insert + 4 CAS commits) | ${x.p1} | ${f.lifecyclesPerSecond} | – | – | – | ${f.clientCpuMsPerLifecycle} (client) | ${round(f.clientCpuMsPerLifecycle + (Number.isFinite(f.mongoServerCpuMsPerLifecycle) ? f.mongoServerCpuMsPerLifecycle : 0), 2)} | ${f.mongoOpsPerLifecycle} | 0 | – |`,
    );
  }
  const r = result.ratios;
  lines.push('');
  // Targets of issue "A store with real indexes" (#12); the standing goal for throughput is 0.5.
  const met = (ok: boolean) => (ok ? 'yes' : 'no');
  lines.push(`| measure (orchestrator against ${x.baseline.name} unless named) | value | target | met? |`);
  lines.push('|---|---:|---|---|');
  lines.push(`| throughput | ${r.throughput} | ≥ 0.25 (goal 0.5) | ${met(r.throughput >= 0.25)} |`);
  lines.push(`| p50 latency at ${result.config.rate}/s | ${r.p50} | (overloaded when the orchestrator cannot sustain the rate) | |`);
  if (Number.isFinite(result.p50RatioBelowCapacity)) lines.push(`| p50 latency below capacity (same offered rate) | ${result.p50RatioBelowCapacity} | ≤ 3 | ${met(result.p50RatioBelowCapacity! <= 3)} |`);
  if (x.p2) {
    lines.push(`| scaling ${x.p1}→${x.p2} processes, orchestrator | ${r.scalingOrchestrator} | ≥ 1.5 where the store is not the limit | ${met(r.scalingOrchestrator >= 1.5)} |`);
    lines.push(`| scaling ${x.p1}→${x.p2} processes, raw chain | ${r.scalingBaseline} | (reference) | |`);
    if (Number.isFinite(r.scalingAgentBound)) lines.push(`| scaling ${x.p1}→${x.p2} processes, orchestrator, agent calls of ${result.agentBound?.agentMs} ms (the store not the limit) | ${r.scalingAgentBound} | ≥ 1.5 | ${met(r.scalingAgentBound >= 1.5)} |`);
  }
  if (f) {
    lines.push(`| throughput / store floor (share of what the MongoDB-wire server allows) | ${r.throughputOfStoreFloor} | ≥ 0.9 | ${met(r.throughputOfStoreFloor >= 0.9)} |`);
    const raw = x.satMed.get(`${x.baseline.name}|${x.p1}`);
    if (raw) {
      // What this machine allows at all (BENCHMARKS.md, "What this machine allows"): the floor
      // against the raw chain, and — when the floor keeps the CPUs busy, so that rates go as 1 / CPU
      // per lifecycle — the share of the floor left to an orchestrator that cost nothing beyond the
      // floor's MongoDB work and the raw chain's queue work.
      const floorCpu = f.clientCpuMsPerLifecycle + (Number.isFinite(f.mongoServerCpuMsPerLifecycle) ? f.mongoServerCpuMsPerLifecycle : 0);
      const busy = round((f.lifecyclesPerSecond * floorCpu) / 1000, 2);
      lines.push(`| ceiling here: store floor / ${x.baseline.name} (throughput ≥ 0.25 needs this ≥ 0.25) | ${round(f.lifecyclesPerSecond / raw.lifecyclesPerSecond, 3)} | | |`);
      lines.push(`| ceiling here: floor CPU / (floor CPU + the raw chain's CPU), ${round(floorCpu, 2)} / (${round(floorCpu, 2)} + ${round(totalCpu(raw), 2)}) ms per lifecycle, the floor keeping ${busy} of ${v.nproc} CPUs busy (≥ 0.9 of the floor needs this ≥ 0.9) | ${round(floorCpu / (floorCpu + totalCpu(raw)), 3)} | | |`);
    }
    const orch = x.satMed.get(`${x.orch.name}|${x.p1}`);
    if (orch) {
      const own = round(orch.workerCpuMsPerLifecycle - f.clientCpuMsPerLifecycle, 2);
      lines.push(`| worker CPU per lifecycle minus the driver's share (the store floor's client), ms | ${own} (${orch.workerCpuMsPerLifecycle} − ${f.clientCpuMsPerLifecycle}) | ≤ 2 | ${met(own <= 2)} |`);
    }
  }
  if (Number.isFinite(r.throughputPrefilledOverEmpty)) lines.push(`| throughput with ${result.prefilled?.jobsInCollection ?? '?'} jobs in the collection / empty | ${r.throughputPrefilledOverEmpty} | ≥ 0.9 | ${met(r.throughputPrefilledOverEmpty >= 0.9)} |`);
  for (const l of result.likeForLike) {
    lines.push(`| throughput vs ${l.system} (like-for-like hops) | ${l.throughputRatio} | | |`);
    lines.push(`| p50 vs ${l.system} | ${l.p50Ratio} | | |`);
  }
  if (result.volume) lines.push(`| RSS growth after warm-up (5 % of the lifecycles → end) over ${result.volume.lifecycles} lifecycles | ${result.volume.rssGrowthStartToEndPct} % | < 10 % over 100,000 | ${met(result.volume.rssGrowthStartToEndPct < 10 && result.volume.lifecycles >= 100_000)} |`);
  const vol = result.volume;
  if (vol) {
    lines.push('');
    lines.push(
      `memory over volume: ${vol.lifecycles} lifecycles in ${vol.seconds} s (${vol.lifecyclesPerSecond}/s, ${vol.window} in flight); worker RSS idle/start/mid/end ${vol.rssMb.idle}/${vol.rssMb.start}/${vol.rssMb.mid}/${vol.rssMb.end} MB (mid→end ${vol.rssGrowthMidToEndPct}%), peak ${vol.rssMb.peak} MB; heapUsed start/mid/end ${vol.heapUsedMb.start}/${vol.heapUsedMb.mid}/${vol.heapUsedMb.end} MB, heapTotal ${vol.heapTotalMb.start}/${vol.heapTotalMb.mid}/${vol.heapTotalMb.end} MB, external ${vol.externalMb.start}/${vol.externalMb.mid}/${vol.externalMb.end} MB; MongoDB ${vol.mongo.objects} docs, dataSize ${vol.mongo.dataSizeMb} MB (${vol.mongo.bytesPerJob} B/job), storageSize ${vol.mongo.storageSizeMb} MB; Redis used_memory ${vol.redisUsedMemoryMb} MB`,
    );
  }
  return lines.join('\n');
}

/** The phase's markdown table. */
export function pipelineReport(p: PipelineResult & { store: string }): string {
  const o = p.orchestrator;
  const f = p.flowProducer;
  const lines = [
    '',
    `pipelines: ${p.template.steps}-step fan-out/fan-in of no-op function steps (prep → ${p.template.fan} → join), ${p.parallel} runs in flight, step concurrency ${p.concurrency}, median of ${p.reps} repetitions of ${p.runsPerSide ? `${p.runsPerSide.orchestrator} (orchestrator) and ${p.runsPerSide.flowproducer} (FlowProducer)` : p.runsPerRep} runs (store: ${p.store}):`,
    '',
    '| side | steps/s | run p50 ms | run p95 ms | process CPU ms/step | Redis CPU ms/step | Redis cmds/step | MongoDB ops/step | store CPU ms/step |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    `| orchestrator (POST /runs, one all-in-one service) | ${o.stepsPerSecond} | ${o.runMs.p50} | ${o.runMs.p95} | ${o.processCpuMsPerStep} | ${o.redisCpuMsPerStep} | ${o.redisCommandsPerStep} | ${o.mongoOpsPerStep} | ${o.storeCpuMsPerStep} |`,
    `| raw peer: BullMQ FlowProducer (prep job, then flow join ← ${p.template.fan}) | ${f.stepsPerSecond} | ${f.runMs.p50} | ${f.runMs.p95} | ${f.processCpuMsPerStep} | ${f.redisCpuMsPerStep} | ${f.redisCommandsPerStep} | 0 | – |`,
    ...(p.floor
      ? [
          `| store floor: the step's records alone (attempt insert + end, ${p.floor.commitsPerRun} run commits per run, ${p.floor.commitMode}; bench process) | ${p.floor.stepsPerSecond} | – | – | ${p.floor.clientCpuMsPerStep} | – | 0 | ${p.floor.mongoOpsPerStep} | ${p.floor.storeCpuMsPerStep} |`,
          ...(p.floorBatched
            ? [`| store floor, attempt records batched per event-loop turn (insertMany, bulkWrite) | ${p.floorBatched.stepsPerSecond} | – | – | ${p.floorBatched.clientCpuMsPerStep} | – | 0 | ${p.floorBatched.mongoOpsPerStep} | ${p.floorBatched.storeCpuMsPerStep} |`]
            : []),
        ]
      : []),
    '',
    `MongoDB ops per step (orchestrator): ${Object.entries(o.mongoOpsByCommand).map(([k, v]) => `${k} ${v}`).join(', ')}; by collection: ${Object.entries(o.mongoOpsByCollection ?? {}).map(([k, v]) => `${k} ${v}`).join(', ')}; driver ms per step by collection (send → reply): ${Object.entries(o.mongoMsByCollection ?? {}).map(([k, v]) => `${k} ${v}`).join(', ')}; a succeeded run's document: ${p.runDocument.bytes} B (snapshot ${p.runDocument.snapshotBytes} B, ${p.runDocument.events} events ${p.runDocument.eventsBytes} B), version ${p.runDocument.version} (commits)`,
    '',
    '| ratio | value | target | met? |',
    '|---|---:|---|---|',
    `| **steps/s, orchestrator / FlowProducer** (of the medians) | ${p.ratio} | ≥ 0.5 | ${p.ratio >= 0.5 ? 'yes' : 'no'} |`,
    `| each repetition's ratio | ${p.pairedRatios.join(', ')} | | |`,
    ...(p.floor
      ? [
          `| store floor / FlowProducer: the most any orchestrator writing these records could reach here | ${Math.round((p.floor.stepsPerSecond / f.stepsPerSecond) * 1000) / 1000} | | |`,
          `| orchestrator / store floor (floor rounds: ${p.floor.rounds.join(', ')} steps/s) | ${Math.round((o.stepsPerSecond / p.floor.stepsPerSecond) * 1000) / 1000} | | |`,
          ...(p.floorBatched
            ? [`| batched store floor / FlowProducer (floor rounds: ${p.floorBatched.rounds.join(', ')} steps/s) | ${Math.round((p.floorBatched.stepsPerSecond / f.stepsPerSecond) * 1000) / 1000} | | |`]
            : []),
        ]
      : []),
  ];
  const s = p.soak;
  if (s) {
    lines.push(
      '',
      `soak: ${s.runs} runs in ${s.seconds} s (${s.stepsPerSecond} steps/s, ${s.unsuccessful} not succeeded); service RSS every ${s.sampleEveryS} s: first ${s.rss.firstMb} MB, after warm-up (10–30 % of runs, median) ${s.rss.startMb} MB, end (80–100 %, median) ${s.rss.endMb} MB, last ${s.rss.lastMb} MB, peak ${s.rss.peakMb} MB; heapUsed (same windows) ${s.rss.heapUsed.startMb} → ${s.rss.heapUsed.endMb} MB (${s.rss.heapUsed.growthPct} %); RSS growth ${s.rss.growthPct} % (flat: < 10 % — ${s.rss.flat ? 'yes' : 'no'}), slope ${s.rss.slopeMbPer1000Runs} MB per 1,000 runs; Redis used_memory ${s.redisUsedMemoryMb.start} → ${s.redisUsedMemoryMb.end} MB; run directories left in PIPELINE_WORK_ROOT: ${s.workDirsLeft}`,
    );
  }
  return lines.join('\n');
}
