/**
 * Checking a chaos job: {@link checkJob} proves its history is a legal path of the statechart
 * (replayed through the pure machine) and exactly the path its `mock:` script implies, with one
 * commit per step.
 */
import { parseMockScript, type MockCallLogEntry } from '../../../src/agents/mock.agent';
import { applyEvent, createJobSnapshot, runStage, stateOf } from '../../../src/lifecycle/job.runtime';
import { type JobLimits, type JobState, type Stage, type TransitionRecord } from '../../../src/lifecycle/job.types';
import { machineFor, ok } from '../../support/machine-drivers';
import type { StoredJob } from './cluster';

/** The final state and exact event sequence a job with this issue body must have (no cancel, no deadline). */
export function expectedPath(body: string, maxReviewRounds = 3): { final: JobState; events: string[]; errorCode?: string } {
  const s = parseMockScript(body);
  const events = ['START_PLANNING'];
  const failed = (event: string) => ({ final: 'FAILED' as const, events: [...events, event], errorCode: 'MOCK_PERMANENT_FAILURE' });
  if (s.fail.includes('planning')) return failed('PLAN_FAILED');
  events.push('PLAN_SUCCEEDED');
  for (let round = 1; ; round++) {
    if (s.fail.includes('coding')) return failed('CODE_FAILED');
    events.push('CODE_SUCCEEDED');
    if (s.fail.includes('reviewing')) return failed('REVIEW_FAILED');
    if (round <= s.rejections) {
      events.push('REVIEW_REJECTED');
      if (round >= maxReviewRounds) return { final: 'FAILED', events, errorCode: 'REVIEW_ROUNDS_EXCEEDED' };
      continue;
    }
    events.push('REVIEW_APPROVED');
    break;
  }
  if (s.fail.includes('pr-open')) return failed('PR_FAILED');
  return { final: 'COMPLETED', events: [...events, 'PR_OPENED'] };
}

const STAGE_OF_EVENT: Record<string, { stage: Stage; behaviour: Parameters<typeof machineFor>[1] }> = {
  PLAN_SUCCEEDED: { stage: 'planning', behaviour: ok.planning },
  CODE_SUCCEEDED: { stage: 'coding', behaviour: ok.coding },
  REVIEW_APPROVED: { stage: 'reviewing', behaviour: ok.approve },
  REVIEW_REJECTED: { stage: 'reviewing', behaviour: ok.reject },
  PR_OPENED: { stage: 'pr-open', behaviour: ok.pr },
  PLAN_FAILED: { stage: 'planning', behaviour: { fault: { retryable: false } } },
  CODE_FAILED: { stage: 'coding', behaviour: { fault: { retryable: false } } },
  REVIEW_FAILED: { stage: 'reviewing', behaviour: { fault: { retryable: false } } },
  PR_FAILED: { stage: 'pr-open', behaviour: { fault: { retryable: false } } },
};

/**
 * Replays `history` through the pure statechart from a fresh QUEUED snapshot with the job's
 * limits: external events with `applyEvent`, stage results by running the stage with an actor
 * that gives that result. Each step must start where the previous ended, be accepted, take
 * exactly one transition and land where the history says.
 * @returns the problems found (empty: a legal path of the machine).
 */
export async function replayHistory(history: TransitionRecord[], limits: JobLimits): Promise<string[]> {
  let snap = createJobSnapshot({ jobId: 'replay', tenantId: 't', repositoryId: 'o/r', issue: { id: '1', title: 't', body: '', url: 'u' }, limits }).snapshot;
  const problems: string[] = [];
  for (const [i, h] of history.entries()) {
    const at = stateOf(snap);
    if (h.from !== at) {
      problems.push(`#${i} ${h.from}-${h.event}->${h.to}: machine is in ${at}`);
      break;
    }
    try {
      const staged = STAGE_OF_EVENT[h.event];
      let transitions;
      if (staged) {
        const run = await runStage(machineFor(staged.stage, staged.behaviour), snap, staged.stage);
        if (run.kind !== 'advanced') throw new Error('stage asked for a retry');
        ({ snapshot: snap, transitions } = run);
      } else {
        const event =
          h.event === 'MARK_FAILED' ? { type: 'MARK_FAILED' as const, error: { code: 'X', message: 'x', stage: 'lifecycle' as const } } : ({ type: h.event } as never);
        ({ snapshot: snap, transitions } = applyEvent(snap, event));
      }
      const t = transitions.map((x) => `${x.from}-${x.event}->${x.to}`).join(', ');
      if (transitions.length !== 1 || transitions[0].event !== h.event || transitions[0].to !== h.to) {
        problems.push(`#${i} ${h.from}-${h.event}->${h.to}: the machine took [${t}]`);
        break;
      }
    } catch (e) {
      problems.push(`#${i} ${h.from}-${h.event}->${h.to}: refused (${(e as Error).message})`);
      break;
    }
  }
  return problems;
}

/** Why a job is not what its script implies: `lost` (not in its final state) or `doubleApplied`. */
export interface JobVerdict {
  lost: boolean;
  doubleApplied: boolean;
  problems: string[];
}

/**
 * Checks a finished job against its script: final state and error code; history a legal path of
 * the machine (replay); history exactly the script's event sequence (so no step twice) and the
 * version equal to the number of commits that sequence needs (one per step; the worker commits
 * START_PLANNING with the planning result).
 */
export async function checkJob(job: StoredJob): Promise<JobVerdict> {
  const limits = job.snapshot.context.limits;
  const want = expectedPath(job.body, limits.maxReviewRounds);
  const problems: string[] = [];
  const lost = job.state !== want.final || (want.errorCode !== undefined && job.error?.code !== want.errorCode);
  if (lost) problems.push(`state ${job.state} (${job.error?.code ?? 'no error'}), script implies ${want.final} (${want.errorCode ?? 'no error'})`);
  const legal = await replayHistory(job.history, limits);
  problems.push(...legal.map((p) => `illegal history: ${p}`));
  const got = job.history.map((h) => h.event);
  const extra = got.length > want.events.length || want.events.some((e, i) => got[i] !== undefined && got[i] !== e);
  const wantVersion = want.events.length - 1;
  if (extra) problems.push(`history ${got.join(',')} ≠ script ${want.events.join(',')}`);
  if (job.version > wantVersion) problems.push(`version ${job.version} > ${wantVersion} commits the script needs`);
  const doubleApplied = legal.length > 0 || extra || job.version > wantVersion;
  if (!lost && !doubleApplied && (got.length !== want.events.length || job.version !== wantVersion)) {
    problems.push(`history/version incomplete: ${got.join(',')} v${job.version}`);
  }
  return { lost, doubleApplied, problems };
}

/** Agent calls started more than once with the same idempotency key (job, stage, attempt, round). */
export function redeliveries(calls: MockCallLogEntry[]): number {
  const starts = new Map<string, number>();
  for (const c of calls) if (c.phase === 'start') starts.set(c.key, (starts.get(c.key) ?? 0) + 1);
  return [...starts.values()].reduce((n, k) => n + k - 1, 0);
}
