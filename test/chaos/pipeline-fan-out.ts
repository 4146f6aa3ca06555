/**
 * The fan-out template and the ground truth of the pipeline kill -9 chaos test
 * (pipeline-kill9.chaos.spec.ts): the template (`prep` → PARTS parallel shell steps → `join`),
 * the execution log each step's shell appends to, the views of what the store holds, and the
 * /proc reads that find this test's step processes (they carry `CHAOS_TAG=<cluster prefix>`).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Parallel parts between `prep` and `join`. */
export const PARTS = 10;
export const TEMPLATE = 'chaos-fan-out';
export const PART_IDS = Array.from({ length: PARTS }, (_, i) => `part-${i + 1}`);
export const STEP_IDS = ['prep', ...PART_IDS, 'join'];
/** The output each step produces (also its file's stem). */
export const OUTPUT_OF: Record<string, string> = { prep: 'seed', join: 'joined', ...Object.fromEntries(PART_IDS.map((p) => [p, p])) };
/** The outputs each step consumes. */
export const INPUTS_OF: Record<string, string[]> = { prep: [], join: PART_IDS, ...Object.fromEntries(PART_IDS.map((p) => [p, ['seed']])) };

export interface StepView {
  status: string;
  visit: number;
  artifacts?: Record<string, string>;
  error?: { code: string; message: string };
}
export interface RunView {
  id: string;
  status: string;
  version: number;
  updatedAt: string;
  steps: Record<string, StepView>;
  error: { code: string; message: string } | null;
}
export interface AttemptView {
  id: string;
  step: string;
  visit: number;
  attempt: number;
  status: 'running' | 'succeeded' | 'failed' | 'aborted';
  workerPid: number;
  pgid: number | null;
  marker: string | null;
  produced: string[];
  error: { code: string; message: string } | null;
  startedAt: string;
  heartbeatAt: string;
  endedAt: string | null;
  exitCode: number | null;
}
export interface ArtifactView {
  id: string;
  name: string;
  sha256: string;
  producer: { step: string; visit: number; attempt: number; attemptId: string };
}
export interface ConsumptionView {
  artifactId: string;
  step: string;
  visit: number;
  attemptId: string;
  sha256: string;
}
export interface EventView {
  kind: 'run' | 'step';
  step?: string;
  from: string;
  to: string;
  event: string;
  at: string;
  visit?: number;
}
/** One line of the execution log: one process that ran a step. */
export interface Execution {
  run: string;
  step: string;
  visit: number;
  attempt: number;
  marker: string;
  pid: number;
  ppid: number;
}

/* ------------------------------------------------------------------------------------------ */
/* /proc: the processes of this test's steps (they carry CHAOS_TAG=<cluster prefix>)           */
/* ------------------------------------------------------------------------------------------ */

export interface Proc {
  pid: number;
  ppid: number;
  pgid: number;
  state: string;
}

export function statOf(pid: number): Proc | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { pid, state: f[0], ppid: Number(f[1]), pgid: Number(f[2]) };
  } catch {
    return undefined; // gone
  }
}

/** Live (non-zombie) processes whose environment holds `CHAOS_TAG=<tag>`. */
export function taggedProcesses(tag: string): Proc[] {
  const out: Proc[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    let environ: string[];
    try {
      environ = readFileSync(`/proc/${pid}/environ`).toString('utf8').split('\0');
    } catch {
      continue;
    }
    if (!environ.includes(`CHAOS_TAG=${tag}`)) continue;
    const s = statOf(pid);
    if (s && s.state !== 'Z' && s.state !== 'X') out.push(s);
  }
  return out;
}

/** Live (non-zombie) members of process group `pgid` that are ours; [] when the group is gone. */
export function liveGroupMembers(pgid: number, tag: string): Proc[] {
  try {
    process.kill(-pgid, 0);
  } catch {
    return []; // ESRCH: no process in the group
  }
  // The group exists: zombies (not yet reaped by init) count as gone, and a stranger that got the
  // number after our group died is not ours.
  return taggedProcesses(tag).filter((p) => p.pgid === pgid);
}

/* ------------------------------------------------------------------------------------------ */
/* the template and the execution log                                                           */
/* ------------------------------------------------------------------------------------------ */

/** A shell line that logs this execution, sleeps, and writes `<name>.txt` atomically (first line: `<name> <marker>`). */
export function stepScript(name: string, seconds: string, body: string): string {
  const who = '"$AICD_RUN_ID" "$AICD_STEP" "$AICD_VISIT" "$AICD_ATTEMPT" "$AICD_PROCESS_MARKER" "$$" "$PPID"';
  return [
    `printf 'start %s %s %s %s %s %s %s\\n' ${who} >> "$CHAOS_EXEC_LOG"`,
    `sleep ${seconds}`,
    `{ printf '%s %s\\n' ${name} "$AICD_PROCESS_MARKER"; ${body} } > ${name}.txt.tmp`,
    `mv ${name}.txt.tmp ${name}.txt`,
    `printf 'end %s %s %s %s %s %s %s\\n' ${who} >> "$CHAOS_EXEC_LOG"`,
  ].join(' && ');
}

export function fanOutTemplate(env: Record<string, string>): Record<string, unknown> {
  const common = { tool: 'shell', heartbeatMs: 1000 };
  const withEnv = (run: string) => ({ run, env });
  const inputPath = (name: string) => `"$AICD_INPUT_PATH_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}"`;
  return {
    name: TEMPLATE,
    description: 'prep → parallel parts → join, for the kill -9 chaos test',
    maxParallel: 6,
    steps: [
      { id: 'prep', ...common, with: withEnv(stepScript('seed', '0.2', 'echo "$AICD_RUN_ID";')), outputs: { seed: { files: 'seed.txt' } } },
      ...PART_IDS.map((id, i) => ({
        id,
        ...common,
        with: withEnv(stepScript(id, (0.2 + (0.8 * i) / (PARTS - 1)).toFixed(2), `cat ${inputPath('seed')};`)), // 0.2 … 1.0 s
        needs: ['prep'],
        inputs: ['seed'],
        outputs: { [id]: { files: `${id}.txt` } },
      })),
      {
        id: 'join',
        ...common,
        with: withEnv(stepScript('joined', '0.2', PART_IDS.map((p) => `cat ${inputPath(p)};`).join(' '))),
        needs: PART_IDS,
        inputs: PART_IDS,
        outputs: { joined: { files: 'joined.txt' } },
      },
    ],
  };
}

export function readExecutions(file: string): { executions: Execution[]; finished: Set<string> } {
  const executions: Execution[] = [];
  const finished = new Set<string>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [kind, run, step, visit, attempt, marker, pid, ppid] = line.split(' ');
    if (kind === 'start') executions.push({ run, step, visit: Number(visit), attempt: Number(attempt), marker, pid: Number(pid), ppid: Number(ppid) });
    if (kind === 'end') finished.add(marker);
  }
  return { executions, finished };
}

/* ------------------------------------------------------------------------------------------ */
