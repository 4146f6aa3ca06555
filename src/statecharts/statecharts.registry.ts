import type { AnyStateMachine } from 'xstate';
import { jobMachine } from '../lifecycle/job.machine';
import { seedEventName } from '../lifecycle/job.types';
import { statechartModel, type StatechartLabeller, type StatechartModel } from './statechart.model';

/** One exported statechart: a machine and how people name its events. */
export interface StatechartEntry {
  /** Name used in file names (`statecharts/<name>.mmd`) and URLs (`/statecharts/<name>`). */
  name: string;
  /** Exported constant the machine comes from (shown in generated headers). */
  source: string;
  machine: AnyStateMachine;
  labeller: StatechartLabeller;
  /** States reached from almost everywhere (drawn off the main path in the picture). */
  sinks?: string[];
  /** Groups of states drawn side by side in the picture. */
  sameRank?: string[][];
}

/**
 * Names the job machine's events in the seed's vocabulary ({@link seedEventName}): the invoked
 * actors' done/error events become PLAN_SUCCEEDED, PLAN_FAILED, …; the review's done event is
 * REVIEW_APPROVED on its `isApproved` branch and REVIEW_REJECTED on the others, whose fallback
 * (neither approved nor another round allowed) reads "rounds exceeded"; its first branch, the
 * budget guard, takes both (REVIEW_APPROVED / REVIEW_REJECTED [isOverBudget]).
 */
export const jobLabeller: StatechartLabeller = {
  eventLabel(eventType, branch) {
    if (eventType === 'xstate.done.actor.review') {
      // The budget branch comes first and takes approvals and rejections alike.
      if (branch.guard?.startsWith('isOverBudget')) return 'REVIEW_APPROVED / REVIEW_REJECTED';
      return branch.guard === 'isApproved' ? 'REVIEW_APPROVED' : 'REVIEW_REJECTED';
    }
    return seedEventName({ type: eventType });
  },
  fallbackLabel(eventType) {
    return eventType === 'xstate.done.actor.review' ? 'rounds exceeded' : undefined;
  },
};

/** Every machine that is exported to `statecharts/` and served at `/statecharts/:machine`. */
export const STATECHARTS: Readonly<Record<string, StatechartEntry>> = {
  job: {
    name: 'job', source: 'jobMachine (src/lifecycle/job.machine.ts)', machine: jobMachine, labeller: jobLabeller, sinks: ['FAILED', 'CANCELLED'],
    sameRank: [['CODING', 'FAILED'], ['PR_OPEN', 'CANCELLED']],
  },
};

export const STATECHART_NAMES = Object.keys(STATECHARTS);

/** The model of a registered statechart. @throws Error for an unknown name. */
export function modelOf(name: string): StatechartModel {
  const entry = STATECHARTS[name];
  if (!entry) throw new Error(`unknown statechart ${name}`);
  return statechartModel(entry.machine, entry.labeller);
}
