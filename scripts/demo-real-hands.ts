/**
 * The demo's "real hands" part (called by scripts/demo.ts): the service with AGENT=cli on a real
 * repository nobody here wrote.
 *
 * - google/uuid v1.6.0 (test/fixtures/repos, from the Go module proxy) in a fresh git repository
 *   with a local bare remote, broken in one function (`UUID.Version()` reads the wrong nibble).
 * - A second service (`node dist/main.js`, own QUEUE_PREFIX / MONGODB_DB): AGENT=cli with
 *   AGENT_CLI=claude, whose binary is the scripted stand-in test/fixtures/fake-cli/fake-agent.js
 *   (it speaks Claude Code's stream-json; no model is called), REVIEW_COMMAND from the tenant's
 *   settings (`go test ./...` for google/uuid), PR_GATEWAY=git (push + compare reference).
 * - Job 1: the agent's first fix is wrong; review runs the project's own tests and rejects with
 *   their output; the next round gets that output as feedback and fixes it; the tests pass; the
 *   branch is pushed to the bare remote. Printed: the branch, the diff stat, the checks' output on
 *   rejection and on approval, the PR record.
 * - Job 2: a long CLI run (ignores SIGTERM, a grandchild, a setsid escapee) is cancelled over REST;
 *   the process tree is counted before and after: nothing is left.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MongoClient } from 'mongodb';
import { MongoTenantRepository } from '../src/tenants/mongo-tenant.repository';
import { issueApiKey } from '../src/tenants/tenant-admin';
import { findProcessesByMarker, isProcessAlive } from '../src/tools/process-table';
import { createUuidFixture, FAKE_AGENT, uuidFixScript, type FixtureRepo } from './lib/fixture-repo';
import { dropRunData } from './lib/run-data';
import type { Answer, ServiceProcess } from './lib/service-process';

/** What the demo gives this part. */
export interface RealHandsDeps {
  say(line?: string): void;
  /** `+   123 ms` since the demo's start. */
  ms(at?: number): string;
  boot(env: NodeJS.ProcessEnv, logFile: string): Promise<ServiceProcess>;
  redisUrl: string;
  mongoUri: string;
  /** QUEUE_PREFIX and MONGODB_DB of this part's service. */
  prefix: string;
  timeoutMs: number;
}

/** One row of the demo's table, and whether it held. */
export interface RealHandsRow {
  id: string;
  key: string;
  scenario: string;
  expected: string;
  final: string;
  ok: boolean;
  transitions: string;
  problem?: string;
}

interface JobDetail {
  id: string;
  state: string;
  branch: string | null;
  error: { code: string; message: string } | null;
  history: { from: string; to: string; event: string; at: string }[];
  context: { prUrl: string | null; commitSha: string | null; diffStat: string | null; usage: { inputTokens: number; outputTokens: number; costUsd: number }; workspace: { branch: string; baseBranch: string; baseCommit: string } | null; reviewComments: string[] };
}
interface LogLine {
  stage: string;
  attempt: number;
  stream: string;
  text: string;
}

const sleep = (n: number) => new Promise((r) => setTimeout(r, n));
const TENANT = 'google';

/** Runs the part; @returns its rows and a cleanup that removes its data, fixture and workspaces. */
export async function realHands(d: RealHandsDeps): Promise<{ rows: RealHandsRow[]; cleanup: () => Promise<void> }> {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'aicd-demo-hands-'));
  let fixture: FixtureRepo | undefined;
  const cleanup = async () => {
    await dropRunData(d.mongoUri, d.redisUrl, d.prefix, d.say);
    fixture?.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  };
  const rows: RealHandsRow[] = [];
  const { say } = d;
  fixture = createUuidFixture(path.join(scratch, 'repo'));
  const mongo = new MongoClient(d.mongoUri, { serverSelectionTimeoutMS: 5000 });
  let apiKey: string;
  try {
    apiKey = (
      await issueApiKey(new MongoTenantRepository(mongo.db(d.prefix)), {
        tenantId: TENANT,
        repositories: ['google/*'],
        settings: { reviewCommands: [{ repository: 'google/uuid', command: 'go test ./...' }] },
      })
    ).apiKey;
  } finally {
    await mongo.close();
  }
  const s = await d.boot(
    {
      ...process.env,
      REDIS_URL: d.redisUrl,
      MONGODB_URI: d.mongoUri,
      MONGODB_DB: d.prefix,
      QUEUE_PREFIX: d.prefix,
      AGENT: 'cli',
      AGENT_CLI: 'claude',
      AGENT_CLI_BIN: FAKE_AGENT,
      GIT_URL_TEMPLATE: fixture.urlTemplate,
      WORKSPACE_ROOT: path.join(scratch, 'workspaces'),
      PR_GATEWAY: 'git',
      AUTO_COMPLETE: 'true',
      KILL_GRACE_MS: '1000',
      HEARTBEAT_MS: '500',
      STAGE_ATTEMPTS: '2',
      SWEEP_INTERVAL_MS: '1000',
      LOG_LEVEL: process.env.DEMO_LOG_LEVEL ?? 'info',
    },
    path.join(os.tmpdir(), `aicd-demo-${d.prefix}.log`),
  );
  const auth = { Authorization: `Bearer ${apiKey}` };
  const get = <T>(url: string) => s.http<T>('GET', url, auth);
  say(`service with AGENT=cli up on ${s.base} (AGENT_CLI=claude → ${path.relative(process.cwd(), FAKE_AGENT)}, PR_GATEWAY=git, tenant ${TENANT}: REVIEW_COMMAND for google/uuid = go test ./...)`);
  say(`repository: google/uuid v1.6.0 with UUID.Version() broken (\`return Version(uuid[6] & 0x0f)\`), bare remote ${fixture.bare}`);

  // Job 1: the fix, rejected once by the project's own tests.
  const submit = (n: number, title: string, body: string) =>
    s.http<{ id: string; branch: string }>('POST', '/jobs', auth, JSON.stringify({ repositoryId: 'google/uuid', issue: { id: String(n), title, body, url: `https://github.com/google/uuid/issues/${n}` } }));
  const created = await submit(7, 'UUID.Version() returns the wrong version', `Version() of a v4 UUID does not return 4.\n\n${uuidFixScript()}`);
  if (created.status !== 201) throw new Error(`POST /jobs → ${created.status} ${JSON.stringify(created.body)}`);
  const id = created.body.id;
  say(`${d.ms()}  job ${id.slice(0, 8)} created on branch ${created.body.branch}`);
  const job = await follow(s, auth, id, d);
  const logs = (await get<{ lines: LogLine[] }>(`/jobs/${id}/logs?stage=reviewing&limit=5000`)).body.lines ?? [];
  const reviewRuns = splitRuns(logs);
  say();
  say(`the checks' output on rejection (review round 1, \`go test ./...\`):`);
  for (const l of tailOf(reviewRuns[0] ?? [], 12)) say(`    ${l}`);
  say(`the checks' output on approval (review round 2):`);
  for (const l of tailOf(reviewRuns[1] ?? [], 4)) say(`    ${l}`);
  const branch = job.context.workspace?.branch ?? created.body.branch;
  let stat = '';
  let remoteHead = '';
  try {
    const gitDir = `--git-dir=${fixture.bare}`;
    remoteHead = execFileSync('git', [gitDir, 'rev-parse', `refs/heads/${branch}`], { encoding: 'utf8' }).trim();
    stat = execFileSync('git', [gitDir, 'diff', '--stat', `${fixture.head}..${remoteHead}`], { encoding: 'utf8' }).trim();
  } catch (e) {
    stat = `(not on the remote: ${(e as Error).message.split('\n')[0]})`;
  }
  say(`branch ${branch} on the bare remote at ${remoteHead.slice(0, 12) || '—'}; diff against the base ${fixture.head.slice(0, 12)}:`);
  for (const l of stat.split('\n')) say(`    ${l}`);
  say(`PR record (git gateway): ${job.context.prUrl}`);
  say(`usage: ${job.context.usage.inputTokens + job.context.usage.outputTokens} tokens, $${job.context.usage.costUsd}`);
  const path1 = statePath(job);
  const expectedPath = 'QUEUED→PLANNING→CODING→REVIEWING→CODING→REVIEWING→PR_OPEN→COMPLETED';
  const rejectedByTests = (reviewRuns[0] ?? []).some((l) => /^--- FAIL/.test(l));
  const problem1 =
    job.state !== 'COMPLETED'
      ? `ended ${job.state}${job.error ? ` (${job.error.code}: ${job.error.message})` : ''}`
      : path1 !== expectedPath
        ? `path ${path1}`
        : !rejectedByTests
          ? 'the first review did not fail on the project\'s tests'
          : remoteHead !== job.context.commitSha
            ? 'the pushed branch is not the job\'s last commit'
            : undefined;
  rows.push({ id, key: 'f-real-repo', scenario: 'google/uuid broken; wrong fix, go test rejects, fixed, pushed', expected: 'COMPLETED', final: job.state, ok: !problem1, transitions: `${path1}  [${job.history.length} events]`, ...(problem1 ? { problem: problem1 } : {}) });

  // Job 2: cancel a long CLI run; its process tree must be gone.
  say();
  const pidFile = path.join(scratch, 'long.pids');
  const longScript = {
    variants: [
      { when: 'this is the planning step', message: 'Rewrite everything.\n\n- Take a long time' },
      { when: 'You are changing', heartbeat: { everyMs: 500, forMs: 120_000 }, ignoreSigterm: true, grandchild: { ignoreSigterm: true }, escapee: { ignoreSigterm: true }, pidFile },
    ],
  };
  const long = await submit(8, 'A change that never ends', `\`\`\`fake-agent\n${JSON.stringify(longScript)}\n\`\`\``);
  const longId = long.body.id;
  const deadline = Date.now() + 30_000;
  while (!existsSync(pidFile) && Date.now() < deadline) await sleep(100);
  const pids = existsSync(pidFile) ? (JSON.parse(readFileSync(pidFile, 'utf8')) as { pid: number; grandchild: number; escapee: number }) : null;
  let marker = '';
  for (let i = 0; i < 50 && !marker; i++) {
    const attempts = (await get<{ stage: string; status: string; processes: { marker: string }[] }[]>(`/jobs/${longId}/attempts`)).body;
    marker = attempts.find((a) => a.stage === 'coding' && a.status === 'running' && a.processes?.length)?.processes[0].marker ?? '';
    if (!marker) await sleep(100);
  }
  const before = marker ? await findProcessesByMarker(marker) : [];
  say(`${d.ms()}  job ${longId.slice(0, 8)}: coding CLI running (pid ${pids?.pid}, grandchild ${pids?.grandchild}, setsid escapee ${pids?.escapee}); processes carrying its marker: ${before.length}`);
  const sent = Date.now();
  const cancel = await s.http<{ state: string }>('POST', `/jobs/${longId}/cancel`, auth);
  say(`${d.ms(sent)}  POST /jobs/${longId.slice(0, 8)}…/cancel → ${cancel.status} ${cancel.body.state}`);
  let aborted: { status: string; processes: { signal: string | null }[] } | undefined;
  for (const t0 = Date.now(); Date.now() - t0 < 15_000 && !aborted; await sleep(100)) {
    aborted = (await get<{ status: string; processes: { signal: string | null }[] }[]>(`/jobs/${longId}/attempts`)).body.find((a) => a.status === 'aborted');
  }
  const after = marker ? await findProcessesByMarker(marker) : [];
  const alive = pids ? [pids.pid, pids.grandchild, pids.escapee].filter(isProcessAlive) : [];
  say(`${d.ms()}  attempt ${aborted ? `aborted (leader ended by ${aborted.processes[0]?.signal}: it ignored SIGTERM, so SIGKILL came KILL_GRACE_MS later)` : 'not aborted'}; ${Date.now() - sent} ms after the cancel: processes with the marker ${after.length}, recorded pids alive ${alive.length}`);
  const longJob = (await get<JobDetail>(`/jobs/${longId}`)).body;
  const problem2 = longJob.state !== 'CANCELLED' ? `ended ${longJob.state}` : before.length !== 3 ? `the tree had ${before.length} processes, not 3` : after.length || alive.length ? `${after.length + alive.length} process(es) left` : !aborted ? 'attempt not recorded as aborted' : undefined;
  rows.push({ id: longId, key: 'g-cancel-cli', scenario: `long CLI run cancelled; tree ${before.length} → ${after.length} processes`, expected: 'CANCELLED', final: longJob.state, ok: !problem2, transitions: `${statePath(longJob)}  [${longJob.history.length} events]`, ...(problem2 ? { problem: problem2 } : {}) });
  return { rows, cleanup };
}

/** Follows a job, printing each committed transition, until it rests or the timeout. */
async function follow(s: ServiceProcess, auth: Record<string, string>, id: string, d: RealHandsDeps): Promise<JobDetail> {
  let printed = 0;
  const deadline = Date.now() + d.timeoutMs;
  for (;;) {
    const res: Answer<JobDetail> = await s.http<JobDetail>('GET', `/jobs/${id}`, auth);
    const job = res.body;
    for (const h of job.history.slice(printed)) {
      const note = h.event === 'REVIEW_REJECTED' ? `  ← ${(job.context.reviewComments[0] ?? '').slice(0, 70)}` : '';
      d.say(`${d.ms(Date.parse(h.at))}  f-real-repo  ${`${h.from} → ${h.to}`.padEnd(22)}  ${h.event}${note}`);
    }
    printed = job.history.length;
    if (['COMPLETED', 'FAILED', 'CANCELLED'].includes(job.state) || Date.now() > deadline) return job;
    await sleep(200);
  }
}

const statePath = (j: Pick<JobDetail, 'history' | 'state'>) => (j.history.length ? [j.history[0].from, ...j.history.map((h) => h.to)].join('→') : j.state);

/** The review logs split into the runs of the checks (each starts with the `[aicd] running the checks` line). */
function splitRuns(lines: LogLine[]): string[][] {
  const runs: string[][] = [];
  for (const l of lines) {
    if (l.text.startsWith('[aicd] running the checks')) runs.push([]);
    else if (l.stream !== 'system' && runs.length) runs.at(-1)!.push(l.text);
  }
  return runs;
}

function tailOf(lines: string[], n: number): string[] {
  const fail = lines.findIndex((l) => /^--- FAIL/.test(l));
  const from = fail >= 0 ? fail : Math.max(0, lines.length - n);
  return lines.slice(from, from + n);
}
