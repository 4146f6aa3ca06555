/**
 * The orchestration overhead around an agent CLI call (issue "Real hands", performance): a
 * service (`node dist/main.js`, API + all workers) with AGENT=cli and AGENT_CLI=custom running a
 * no-op CLI (a shell script that prints the result line; in coding it also writes one file so
 * there is something to commit), on a small git repository with a local bare remote. Jobs run
 * one at a time; from the stage attempts' records:
 *
 *   overhead(stage) = (start of the next stage's attempt, i.e. just after this stage's commit)
 *                     − (the CLI's spawn) − (the CLI's own run time: the raw baseline's p50)
 *
 * The raw baseline, in the same run: the same no-op script spawned directly (child_process,
 * spawn → exit). The overhead is what the supervisor adds around the process (process group,
 * marker scan, line splitting) plus what happens between the CLI's exit and the committed stage:
 * output parsing, usage, the artifact (GridFS), the attempt record, the statechart step, the
 * compare-and-set commit — and for coding the orchestrator's git commit and diff. Also reported:
 * the part after the exit alone, and the workspace work before the spawn (fetch, worktree, reset).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { git } from '../../scripts/lib/fixture-repo';
import { ServiceProcess } from '../../scripts/lib/service-process';
import { percentile } from './measure';

const NOOP = `#!/bin/sh
# A no-op agent CLI (AGENT_CLI=custom contract: the last stdout line is a Claude-style result event).
if [ "$1" = coding ]; then date +%s%N > BENCH_NOOP.md; fi
printf '%s\\n' '{"type":"result","subtype":"success","is_error":false,"result":"No-op.\\n\\n- nothing to do","usage":{"input_tokens":1,"output_tokens":1}}'
`;

export interface CliOverheadResult {
  jobs: number;
  /** The no-op CLI spawned directly, spawn → exit, ms. */
  rawSpawnMs: { p50: number; p95: number };
  /** The same CLI under the supervisor (process group, marker scan after exit), spawn → exit, ms. */
  supervisedCliMs: { p50: number; p95: number };
  /** After the CLI's exit (as the supervisor saw it) until the stage is committed, ms. */
  afterExitMs: { planning: { p50: number; p95: number }; coding: { p50: number; p95: number } };
  /**
   * The target's measure: from the spawn to the committed stage, minus the CLI's own run time (the
   * raw baseline's p50), ms — the supervisor's own cost included.
   */
  overheadMs: { planning: { p50: number; p95: number }; coding: { p50: number; p95: number } };
  /** The workspace work before the spawn (mirror fetch, worktree, reset), ms. */
  preSpawnMs: { planning: { p50: number; p95: number }; coding: { p50: number; p95: number } };
  /** Whole lifecycle (submit → COMPLETED), ms. */
  lifecycleMs: { p50: number; p95: number };
}

interface Attempt {
  stage: string;
  startedAt: string;
  processes: { startedAt: string; durationMs: number | null }[];
}

const stats = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return { p50: round(percentile(sorted, 50)), p95: round(percentile(sorted, 95)) };
};
const round = (x: number) => Math.round(x * 10) / 10;
const sleep = (n: number) => new Promise((r) => setTimeout(r, n));

/** Spawns `file coding` in `cwd` and resolves with spawn → exit in ms. */
function rawSpawn(file: string, cwd: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('/bin/sh', [file, 'planning'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.resume();
    child.stderr.resume();
    child.on('error', reject);
    child.on('close', () => resolve(performance.now() - t0));
  });
}

/** Runs the phase: `jobs` lifecycles one at a time. */
export async function cliOverhead(opts: { redisUrl: string; mongoUri: string; prefix: string; jobs: number; log: (l: string) => void }): Promise<CliOverheadResult> {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'aicd-bench-cli-'));
  let service: ServiceProcess | undefined;
  try {
    const noop = path.join(scratch, 'noop-agent.sh');
    writeFileSync(noop, NOOP, { mode: 0o755 });
    // A small repository with a bare remote.
    const work = path.join(scratch, 'work');
    const bare = path.join(scratch, 'remotes', 'bench', 'noop.git');
    git(scratch, 'init', '--quiet', '--initial-branch=main', work);
    writeFileSync(path.join(work, 'README.md'), '# noop\n');
    git(work, 'add', '-A');
    git(work, 'commit', '--quiet', '-m', 'init');
    git(scratch, 'init', '--quiet', '--bare', '--initial-branch=main', bare);
    git(work, 'push', '--quiet', bare, 'main:main');

    const raw: number[] = [];
    for (let i = 0; i < opts.jobs * 2; i++) raw.push(await rawSpawn(noop, work));

    service = await ServiceProcess.boot(
      {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        REDIS_URL: opts.redisUrl,
        MONGODB_URI: opts.mongoUri,
        MONGODB_DB: opts.prefix,
        QUEUE_PREFIX: opts.prefix,
        ALLOW_TENANT_HEADER: 'true',
        AGENT: 'cli',
        AGENT_CLI: 'custom',
        AGENT_CLI_COMMAND: JSON.stringify(['/bin/sh', noop, '{stage}']),
        GIT_URL_TEMPLATE: `file://${path.join(scratch, 'remotes')}/{repository}.git`,
        WORKSPACE_ROOT: path.join(scratch, 'workspaces'),
        REVIEW_COMMAND: 'true',
        PR_GATEWAY: 'mock',
        LOG_LEVEL: 'warn',
      },
      path.join(scratch, 'service.log'),
      30_000,
      () => undefined,
      opts.log,
    );
    const headers = { 'x-tenant-id': 'bench' };
    const afterExit = { planning: [] as number[], coding: [] as number[] };
    const spawnToCommit = { planning: [] as number[], coding: [] as number[] };
    const pre = { planning: [] as number[], coding: [] as number[] };
    const supervised: number[] = [];
    const lifecycle: number[] = [];
    for (let i = 1; i <= opts.jobs + 2; i++) {
      const t0 = performance.now();
      const res = await service.http<{ id: string }>('POST', '/jobs', headers, JSON.stringify({ repositoryId: 'bench/noop', issue: { id: String(i), title: `No-op ${i}`, body: 'nothing', url: `https://example.test/${i}` } }));
      if (res.status !== 201) throw new Error(`POST /jobs → ${res.status} ${JSON.stringify(res.body)}`);
      const id = res.body.id;
      let state = '';
      for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(5)) {
        state = (await service.http<{ state: string }>('GET', `/jobs/${id}`, headers)).body.state;
        if (['COMPLETED', 'FAILED', 'CANCELLED'].includes(state)) break;
      }
      if (state !== "COMPLETED") throw new Error(`bench job ${id} ended ${state}: ${JSON.stringify((await service.http("GET", `/jobs/${id}`, headers)).body.error)}`);
      if (i <= 2) continue; // warm-up: first mirror clone, JIT
      lifecycle.push(performance.now() - t0);
      const attempts = (await service.http<Attempt[]>('GET', `/jobs/${id}/attempts`, headers)).body;
      const of = (stage: string) => attempts.find((a) => a.stage === stage);
      for (const [stage, next] of [['planning', 'coding'], ['coding', 'reviewing']] as const) {
        const a = of(stage);
        const b = of(next);
        const p = a?.processes[0];
        if (!a || !b || !p || p.durationMs === null) throw new Error(`bench job ${id}: attempt records missing for ${stage}/${next}`);
        const spawned = Date.parse(p.startedAt);
        afterExit[stage].push(Date.parse(b.startedAt) - spawned - p.durationMs);
        spawnToCommit[stage].push(Date.parse(b.startedAt) - spawned);
        pre[stage].push(spawned - Date.parse(a.startedAt));
        supervised.push(p.durationMs);
      }
    }
    const rawP50 = stats(raw).p50;
    const minusRaw = (xs: number[]) => stats(xs.map((x) => x - rawP50));
    return {
      jobs: opts.jobs,
      rawSpawnMs: stats(raw),
      supervisedCliMs: stats(supervised),
      afterExitMs: { planning: stats(afterExit.planning), coding: stats(afterExit.coding) },
      overheadMs: { planning: minusRaw(spawnToCommit.planning), coding: minusRaw(spawnToCommit.coding) },
      preSpawnMs: { planning: stats(pre.planning), coding: stats(pre.coding) },
      lifecycleMs: stats(lifecycle),
    };
  } finally {
    await service?.stop(10_000, opts.log);
    rmSync(scratch, { recursive: true, force: true });
  }
}
