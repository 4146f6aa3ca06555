import { log, saturated, type Context, type SaturatedResult } from './phases';
import type { OrchestratorSystem } from './systems';

/**
 * 1 → 2 worker processes (`cfg.procs`) where the store is not the limit: each MockAgent call takes
 * `cfg.scalingAgentMs`, so a process's stage slots (`cfg.concurrency`) bind before the store.
 * Returns every repetition (none when the knob is 0 or only one process count is asked for).
 */
export async function agentBoundScaling(
  ctx: Context,
  orch: OrchestratorSystem,
  cfg: { scalingAgentMs: number; procs: number[]; concurrency: number; runs: number; submitParallel: number; satMaxS: number },
): Promise<SaturatedResult[]> {
  const agentBound: SaturatedResult[] = [];
  if (cfg.scalingAgentMs <= 0 || cfg.procs.length < 2) return agentBound;
  orch.agentDelayMs = cfg.scalingAgentMs;
  for (const procs of cfg.procs) {
    await orch.startWorkers(procs);
    // Sized to last ~15 s at the slots' rate: concurrency × procs lifecycles per 4 agent calls.
    const n = Math.max(100, Math.round(((cfg.concurrency * procs) / ((4 * cfg.scalingAgentMs) / 1000)) * 15));
    for (let r = 1; r <= cfg.runs; r++) {
      const res = await saturated(ctx, orch, n, cfg.submitParallel, cfg.satMaxS + 30);
      agentBound.push(res);
      log(`  run ${r} agent-bound (${cfg.scalingAgentMs} ms per agent call) orchestrator ×${procs}: ${res.lifecyclesPerSecond}/s (${res.lifecycles}/${res.submitted} in ${res.seconds} s)`);
    }
    await orch.stopWorkers();
  }
  orch.agentDelayMs = 0;
  return agentBound;
}
