import type { AnyStateMachine } from 'xstate';
import type { StatechartLabeller } from './statechart.model';

/** One statechart that can be rendered: a machine and how people name its events. */
export interface StatechartEntry {
  /**
   * Name used in URLs (`/statecharts/<name>`) and, with `:` made `-`, in file names
   * (`statecharts/<file base>.mmd`, see `statechartFileBase`): `job`, `pipeline:dev-test-regression@1`.
   */
  name: string;
  /** Where the machine comes from (shown in generated headers), e.g. `jobMachine (src/lifecycle/job.machine.ts)`. */
  source: string;
  machine: AnyStateMachine;
  labeller: StatechartLabeller;
  /** States reached from almost everywhere (drawn off the main path in the picture). */
  sinks?: string[];
  /** Groups of states drawn side by side in the picture. */
  sameRank?: string[][];
}
