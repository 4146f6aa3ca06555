import { Logger } from '@nestjs/common';
import { hostname } from 'node:os';
import type { StageAttemptRepository } from './stage-attempt.repository';

/** Kills what is left of a process tree, identified by its process group and marker. */
export type ReapProcesses = (target: { marker: string; pgid: number }, graceMs: number) => Promise<{ found: number; killed: number; remaining: number }>;

/** What reaping a job's leftovers did. */
export interface ReapReport {
  /** Attempts whose processes were examined on this host. */
  attempts: number;
  found: number;
  killed: number;
  /** Processes still alive afterwards (should be 0). */
  remaining: number;
  /** Attempts whose processes live on another host (not reachable from here). */
  elsewhere: number;
}

/**
 * Before a stage runs again (a later attempt, a redelivery after a stall, a heartbeat rescue),
 * kills what an earlier attempt of the same job left running: a worker that was `kill -9`ed
 * leaves its agent CLI's process group orphaned. The recorded pgid and marker find the tree (also
 * descendants that left the group with `setsid`); a process is only killed when it carries the
 * attempt's marker, so a reused pid is never hit. Processes recorded on another host cannot be
 * reached from here: that host's own worker reaps them when it runs the job again, and a dead
 * host took them with it.
 */
export class OrphanReaper {
  private readonly log = new Logger(OrphanReaper.name);
  private readonly host = hostname();

  constructor(
    private readonly attempts: StageAttemptRepository,
    private readonly reap: ReapProcesses,
    private readonly graceMs: number,
  ) {}

  /** Reaps every unreaped attempt of `jobId` recorded on this host. Never throws (it logs). */
  async reapJob(jobId: string): Promise<ReapReport> {
    const report: ReapReport = { attempts: 0, found: 0, killed: 0, remaining: 0, elsewhere: 0 };
    try {
      for (const attempt of await this.attempts.unreaped(jobId)) {
        const here = attempt.processes.filter((p) => p.host === this.host);
        if (!here.length) {
          report.elsewhere++;
          continue;
        }
        const r = { found: 0, killed: 0, remaining: 0 };
        for (const p of here) {
          const one = await this.reap({ marker: p.marker, pgid: p.pgid }, this.graceMs);
          r.found += one.found;
          r.killed += one.killed;
          r.remaining += one.remaining;
        }
        await this.attempts.markReaped(attempt.id, { at: new Date(), host: this.host, ...r });
        report.attempts++;
        report.found += r.found;
        report.killed += r.killed;
        report.remaining += r.remaining;
        if (r.found) this.log.warn(`job ${jobId}: reaped ${r.killed}/${r.found} process(es) left by ${attempt.stage} attempt ${attempt.attempt} (${attempt.status}); ${r.remaining} remain`);
      }
    } catch (e) {
      this.log.warn(`job ${jobId}: reaping leftovers failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    return report;
  }
}
