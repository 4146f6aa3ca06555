/**
 * `npm run demo`: the orchestrator end to end, as a user would see it.
 *
 *   npm run demo          # = nest build && tsx scripts/services.ts run -- tsx scripts/demo.ts
 *
 * 1. Starts the real service (`node dist/main.js`, API + every stage worker) as a child process on
 *    a free port, with its own QUEUE_PREFIX and MONGODB_DB, a random GITHUB_WEBHOOK_SECRET and a
 *    slowed-down MockAgent so the lifecycle is visible; waits for GET /healthz = 200. Issues API
 *    keys (as `npm run tenant:create` does) for tenant `codertocat`, whose record lists
 *    `codertocat/*` so the example deliveries map to it, and for `acme`; every REST call sends
 *    `Authorization: Bearer <key>` (ALLOW_TENANT_HEADER stays off).
 * 2. Replays the real GitHub `issues` payloads of @octokit/webhooks-examples (actions `opened` and
 *    `labeled`, signed with @octokit/webhooks) through POST /webhooks/github. They all describe
 *    Codertocat/Hello-World issue #1, so N deliveries make ONE job. GITHUB_WEBHOOK_LABEL is set to
 *    `bug` (the label of the example `labeled` payloads), so those deliveries are accepted too and
 *    deduplicated into the same job. Also a `ping` (ignored) and a badly signed delivery (401,
 *    creates nothing).
 * 3. Scripted variants (a real `opened` payload with another issue number and `mock:` directives
 *    in the body, see src/agents/mock.agent.ts): rejected twice then approved, a transient planning
 *    failure, a permanent coding failure, and one cancelled mid-coding; plus one job via POST /jobs.
 * 4. Real hands (scripts/demo-real-hands.ts): a second service with AGENT=cli on google/uuid broken
 *    in one function — a wrong fix rejected by the project's own tests, fixed, pushed through the
 *    git gateway — and a long CLI run cancelled with its whole process tree gone.
 * 5. Pipelines (scripts/demo-pipeline.ts): the built-in `dev-test-regression` on the same broken
 *    repository, run by this service's step worker: the test step fails, spawns dev with its
 *    output, runs again and passes; the run's step table is printed.
 * 6. Polls every job (GET /jobs/:id) and prints each committed transition as it appears, then the
 *    history per job and a table. Exit 0 only if every job reached its expected final state (and
 *    the delivery checks held), else 1. The service is always stopped (SIGTERM, SIGKILL after 10 s)
 *    and its database and queue keys are removed.
 *
 * Needs REDIS_URL and MONGODB_URI (scripts/services.ts provides them); builds dist/ if missing.
 * DEMO_TIMEOUT_MS (default 60000) bounds the wait for the jobs.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MongoClient } from 'mongodb';
import { MongoTenantRepository } from '../src/tenants/mongo-tenant.repository';
import { issueApiKey } from '../src/tenants/tenant-admin';
import { realHands } from './demo-real-hands';
import { pipelineDemo } from './demo-pipeline';
import { dropRunData } from './lib/run-data';
import { MAIN_JS, ScriptAbort, ServiceProcess, type Answer } from './lib/service-process';
import { count, followJobs, reportJobs, statePath, type Check, type JobView, type Tracked } from './lib/demo-jobs';
import { examples, signedDelivery, variant, type Payload } from './lib/webhook-examples';

const ROOT = path.resolve(__dirname, '..');

const RUN_ID = randomBytes(4).toString('hex');
const PREFIX = `demo_${RUN_ID}`;
const WEBHOOK_TENANT = 'github';
const REST_TENANT = 'acme';
/** Tenant whose record lists `codertocat/*`: the example deliveries (Codertocat/Hello-World) map to it. */
const REPO_TENANT = 'codertocat';
const WEBHOOK_LABEL = 'bug';
const AGENT_DELAY_MS = 200;
const HEALTH_TIMEOUT_MS = 30_000;
const JOBS_TIMEOUT_MS = Number(process.env.DEMO_TIMEOUT_MS ?? 60_000);
const POLL_MS = 100;
const STOP_GRACE_MS = 10_000;
const LOG_TAIL_LINES = 30;
/** Width of the "what" column of the delivery lines. */
const WHAT = 64;

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const MONGODB_URI = process.env.MONGODB_URI ?? 'mongodb://127.0.0.1:27017';

/* ------------------------------------------------------------------------------------------ */
/* output                                                                                      */
/* ------------------------------------------------------------------------------------------ */

let t0 = Date.now();
const ms = (at: number = Date.now()) => `+${String(Math.max(0, at - t0)).padStart(5)} ms`;
const say = (line = '') => process.stdout.write(`${line}\n`);

/* ------------------------------------------------------------------------------------------ */
/* the child service                                                                           */
/* ------------------------------------------------------------------------------------------ */

class DemoAbort extends ScriptAbort {}

/** The demo's service (API + every stage worker, the MockAgent), and the real-hands one (AGENT=cli). */
let service: ServiceProcess | undefined;
const services: ServiceProcess[] = [];
/** Cleanups of the parts that keep their own data (the real-hands part). */
const cleanups: (() => Promise<void>)[] = [];


function printTail(s: ServiceProcess): void {
  s.printTail(say, LOG_TAIL_LINES);
}

function assertAlive(): void {
  service?.assertAlive();
}

function serviceEnv(secret: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    REDIS_URL,
    MONGODB_URI,
    MONGODB_DB: PREFIX,
    QUEUE_PREFIX: PREFIX,
    GITHUB_WEBHOOK_SECRET: secret,
    GITHUB_WEBHOOK_TENANT: WEBHOOK_TENANT,
    GITHUB_WEBHOOK_LABEL: WEBHOOK_LABEL,
    AGENT: 'mock',
    MOCK_AGENT_DELAY_MS: String(AGENT_DELAY_MS),
    // Pin everything a scenario depends on, whatever the caller's shell exports.
    MOCK_AGENT_FAIL_STAGES: '',
    MOCK_AGENT_TRANSIENT: '',
    MOCK_AGENT_REJECTIONS: '0',
    STAGE_ATTEMPTS: '3',
    STAGE_BACKOFF_MS: '300',
    MAX_REVIEW_ROUNDS: '3',
    AUTO_COMPLETE: 'true',
    LOG_LEVEL: process.env.DEMO_LOG_LEVEL ?? 'info',
  };
}

/** Starts a service (tracked for cleanup) and waits for GET /healthz = 200. */
function bootService(env: NodeJS.ProcessEnv, logFile: string): Promise<ServiceProcess> {
  return ServiceProcess.boot(env, logFile, HEALTH_TIMEOUT_MS, (s) => services.push(s), say);
}

/* ------------------------------------------------------------------------------------------ */
/* HTTP                                                                                        */
/* ------------------------------------------------------------------------------------------ */

/** API keys by tenant, issued like `npm run tenant:create` does (src/tenants/tenant-admin.ts). */
const apiKeys: Record<string, string> = {};
const auth = (tenant: string): Record<string, string> => (apiKeys[tenant] ? { Authorization: `Bearer ${apiKeys[tenant]}` } : {});

async function createApiKeys(): Promise<void> {
  const mongo = new MongoClient(MONGODB_URI, { serverSelectionTimeoutMS: 5_000 });
  try {
    const repo = new MongoTenantRepository(mongo.db(PREFIX));
    apiKeys[REPO_TENANT] = (await issueApiKey(repo, { tenantId: REPO_TENANT, repositories: ['codertocat/*'] })).apiKey;
    apiKeys[REST_TENANT] = (await issueApiKey(repo, { tenantId: REST_TENANT })).apiKey;
  } finally {
    await mongo.close();
  }
}

async function http<T = Record<string, unknown>>(method: string, url: string, headers: Record<string, string> = {}, body?: string): Promise<Answer<T>> {
  if (interruptedBy) throw new DemoAbort(`interrupted by ${interruptedBy}`);
  return service!.http<T>(method, url, headers, body);
}


interface WebhookAnswer {
  accepted?: boolean;
  jobId?: string;
  tenantId?: string;
  created?: boolean;
  ignored?: string;
  code?: string;
  message?: string;
}

/* ------------------------------------------------------------------------------------------ */
/* deliveries                                                                                  */
/* ------------------------------------------------------------------------------------------ */

/** Signs with `secret` and POSTs to /webhooks/github like GitHub does. */
async function deliver(event: string, payload: Payload, secret: string): Promise<Answer<WebhookAnswer>> {
  const { headers, raw } = await signedDelivery(event, payload, secret);
  return http<WebhookAnswer>('POST', '/webhooks/github', headers, raw);
}

/* ------------------------------------------------------------------------------------------ */
/* jobs                                                                                        */
/* ------------------------------------------------------------------------------------------ */


/* ------------------------------------------------------------------------------------------ */
/* main                                                                                        */
/* ------------------------------------------------------------------------------------------ */


async function demo(): Promise<number> {
  const started = Date.now();
  if (!process.env.REDIS_URL || !process.env.MONGODB_URI) {
    say(`note: REDIS_URL/MONGODB_URI not set, using ${REDIS_URL} and ${MONGODB_URI} (\`npm run demo\` starts both)`);
  }
  if (!fs.existsSync(MAIN_JS)) {
    say('dist/main.js is missing; running nest build');
    const res = spawnSync(path.join(ROOT, 'node_modules', '.bin', 'nest'), ['build'], { cwd: ROOT, stdio: 'inherit' });
    if (res.status !== 0) throw new DemoAbort('nest build failed');
  }

  const logFile = path.join(os.tmpdir(), `aicd-demo-${RUN_ID}.log`);
  say(`aicd-orchestrator demo ${RUN_ID}: starting node dist/main.js (QUEUE_PREFIX=MONGODB_DB=${PREFIX}, MockAgent ${AGENT_DELAY_MS} ms per call)`);
  const secret = randomBytes(24).toString('hex');
  const s = (service = await bootService(serviceEnv(secret), logFile));
  say(`service up on ${s.base} after ${Date.now() - started} ms (pid ${s.child.pid}; Redis ${REDIS_URL}, MongoDB ${MONGODB_URI.replace(/\/\/[^@/]*@/, '//***@')})`);
  await createApiKeys();
  say(`API keys issued for tenants ${REPO_TENANT} (repositories codertocat/*) and ${REST_TENANT}; every REST call below sends Authorization: Bearer <key>`);
  say();

  const checks: Check[] = [];
  const jobs: Tracked[] = [];
  t0 = Date.now();

  // 1. The real payloads: every `opened` and `labeled` example of the `issues` event.
  const issues = examples('issues');
  const opened = issues.filter((p) => p.action === 'opened');
  const labeled = issues.filter((p) => p.action === 'labeled');
  const replay = [...opened, ...labeled];
  const repo = String(opened[0]?.repository?.full_name);
  say(`1) replaying ${replay.length} real 'issues' deliveries from @octokit/webhooks-examples (${opened.length} opened, ${labeled.length} labeled '${[...new Set(labeled.map((p) => p.label?.name))].join("', '")}'; GITHUB_WEBHOOK_LABEL=${WEBHOOK_LABEL})`);
  const answers: WebhookAnswer[] = [];
  for (const p of replay) {
    const res = await deliver('issues', p, secret);
    answers.push(res.body);
    const what = `issues.${p.action}${p.label ? ` ${p.label.name}` : ''} ${p.repository.full_name}#${p.issue.number}`;
    const result = res.body.accepted ? `job ${String(res.body.jobId).slice(0, 8)} ${res.body.created ? 'created' : 'already exists (deduplicated)'}` : `ignored: ${res.body.ignored ?? res.body.message}`;
    say(`${ms()}  ${what.padEnd(WHAT)}  ${res.status}  ${result}`);
  }
  const ids = [...new Set(answers.map((a) => a.jobId).filter(Boolean))];
  const createdCount = answers.filter((a) => a.created).length;
  checks.push({
    what: `${replay.length} real deliveries for ${repo}#1 → ${ids.length} job (${createdCount} created, ${answers.filter((a) => a.accepted && !a.created).length} deduplicated)`,
    pass: ids.length === 1 && createdCount === 1 && answers.every((a) => a.accepted),
  });
  const tenant = answers.find((a) => a.tenantId)?.tenantId ?? WEBHOOK_TENANT;
  checks.push({ what: `deliveries for ${repo} belong to tenant ${tenant} (its record lists codertocat/*)`, pass: tenant === REPO_TENANT });
  const noKey = await http('GET', '/jobs', {});
  checks.push({ what: `GET /jobs without an API key → ${noKey.status}`, pass: noKey.status === 401 });
  if (ids[0]) {
    jobs.push({
      key: 'hello-world',
      scenario: `${repo}#1, ${replay.length} real deliveries`,
      tenant,
      id: ids[0],
      expected: 'COMPLETED',
      verify: (j) => (statePath(j.history).join('→') === 'QUEUED→PLANNING→CODING→REVIEWING→PR_OPEN→COMPLETED' ? undefined : 'not the straight path'),
      state: 'QUEUED',
      printed: 0,
      settled: false,
    });
  }

  const ping = examples('ping')[0];
  const pingRes = await deliver('ping', ping, secret);
  say(`${ms()}  ${'ping'.padEnd(WHAT)}  ${pingRes.status}  ${pingRes.body.ignored ? `ignored: ${pingRes.body.ignored}` : JSON.stringify(pingRes.body)}`);
  checks.push({ what: `ping delivery ignored (${pingRes.status}, creates nothing)`, pass: pingRes.status === 202 && pingRes.body.accepted === false });

  const listCount = async () => {
    const res = await http<{ items: unknown[] }>('GET', '/jobs?limit=100', auth(tenant));
    return res.status === 200 ? res.body.items.length : NaN;
  };
  const before = await listCount();
  const forged = variant(opened[0], 999, 'Forged delivery', []);
  const badRes = await deliver('issues', forged, `not-the-${secret}`);
  const after = await listCount();
  say(`${ms()}  ${`issues.opened ${repo}#999 (wrong secret)`.padEnd(WHAT)}  ${badRes.status}  ${badRes.body.code ?? ''} ${badRes.body.message ?? ''}`.trimEnd());
  checks.push({ what: `bad signature → ${badRes.status} ${badRes.body.code ?? ''}, no job created (tenant ${tenant} has ${before} job(s) before, ${after} after)`, pass: badRes.status === 401 && before === after });

  // 2. Scripted variants: a real `opened` payload, another issue number, `mock:` directives.
  say();
  say(`2) scripted variants (real 'opened' payload, new issue number, mock: directives in the body)`);
  const template = opened.find((p) => typeof p.issue.body === 'string' && p.issue.body) ?? opened[0];
  const variants: Array<Omit<Tracked, 'id' | 'tenant' | 'state' | 'printed' | 'settled'> & { n: number; title: string; directives: string[] }> = [
    {
      key: 'a-review-loop',
      n: 101,
      title: 'Review loop: rejected twice, then approved',
      directives: ['reject=2'],
      scenario: 'mock: reject=2',
      expected: 'COMPLETED',
      verify: (j) => (count(j, 'REVIEW_REJECTED') === 2 && count(j, 'REVIEW_APPROVED') === 1 ? undefined : `expected 2 rejections + 1 approval, got ${count(j, 'REVIEW_REJECTED')} + ${count(j, 'REVIEW_APPROVED')}`),
    },
    {
      key: 'b-transient',
      n: 102,
      title: 'Transient planning failure, retried',
      directives: ['transient=planning:1'],
      scenario: 'mock: transient=planning:1',
      expected: 'COMPLETED',
      verify: (j) => (j.history.some((h) => h.event === 'PLAN_SUCCEEDED' && h.attempt === 2) ? undefined : 'planning did not succeed on attempt 2'),
    },
    {
      key: 'c-permanent',
      n: 103,
      title: 'Permanent coding failure',
      directives: ['fail=coding'],
      scenario: 'mock: fail=coding',
      expected: 'FAILED',
      verify: (j) => (j.error?.code === 'MOCK_PERMANENT_FAILURE' && j.error.stage === 'coding' ? undefined : `error ${JSON.stringify(j.error)}`),
    },
    {
      key: 'd-cancelled',
      n: 104,
      title: 'Cancelled while coding',
      directives: ['delay=coding:5000'],
      scenario: 'mock: delay=coding:5000 + cancel',
      expected: 'CANCELLED',
      verify: (j) => {
        const last = j.history.at(-1);
        return last?.from === 'CODING' && last.event === 'MARK_CANCELLED' ? undefined : `last transition ${last ? `${last.from}→${last.to} ${last.event}` : 'none'}`;
      },
      onState: async (j, self) => {
        if (j.state !== 'CODING' || self.cancelSent) return;
        self.cancelSent = true;
        const sent = Date.now();
        const res = await http<JobView>('POST', `/jobs/${j.id}/cancel`, auth(self.tenant));
        say(`${ms(sent)}  ${self.key}  in CODING: POST /jobs/${j.id.slice(0, 8)}…/cancel (key of ${self.tenant}) → ${res.status} ${res.body.state ?? JSON.stringify(res.body)}`);
      },
    },
  ];
  for (const v of variants) {
    const res = await deliver('issues', variant(template, v.n, v.title, v.directives), secret);
    const made = res.status === 202 && res.body.accepted && res.body.created && res.body.jobId;
    say(`${ms()}  ${`issues.opened ${repo}#${v.n} (${v.directives.join(', ')})`.padEnd(WHAT)}  ${res.status}  ${made ? `job ${res.body.jobId!.slice(0, 8)} created` : JSON.stringify(res.body)}`);
    if (!made) {
      checks.push({ what: `delivery for #${v.n} (${v.key}) creates a job`, pass: false });
      continue;
    }
    jobs.push({ ...v, id: res.body.jobId!, tenant: res.body.tenantId ?? tenant, state: 'QUEUED', printed: 0, settled: false });
  }

  // (e) Straight through the REST API, as another tenant.
  const rest = await http<JobView & { message?: string }>(
    'POST',
    '/jobs',
    auth(REST_TENANT),
    JSON.stringify({
      repositoryId: 'acme/widgets',
      issue: { id: '7', title: 'Submitted via POST /jobs', body: 'No webhook involved.', url: 'https://github.com/acme/widgets/issues/7' },
      idempotencyKey: `demo-${RUN_ID}-rest`,
    }),
  );
  say(`${ms()}  ${`POST /jobs acme/widgets#7 (key of ${REST_TENANT})`.padEnd(WHAT)}  ${rest.status}  ${rest.status === 201 ? `job ${rest.body.id.slice(0, 8)} created, ${rest.body.state}` : JSON.stringify(rest.body)}`);
  if (rest.status === 201) {
    jobs.push({ key: 'e-rest', scenario: 'POST /jobs, tenant acme', tenant: REST_TENANT, id: rest.body.id, expected: 'COMPLETED', state: rest.body.state, printed: 0, settled: false });
    const foreign = await http('GET', `/jobs/${rest.body.id}`, auth(tenant));
    checks.push({ what: `tenant ${tenant} cannot see tenant ${REST_TENANT}'s job (GET → ${foreign.status})`, pass: foreign.status === 404 });
  } else {
    checks.push({ what: 'POST /jobs creates a job (201)', pass: false });
  }

  // 3. Follow every job.
  say();
  say(`3) following ${jobs.length} jobs (transitions as committed; times since the first delivery)`);
  await followJobs(jobs, t0 + JOBS_TIMEOUT_MS, {
    get: async (j) => {
      const res = await http<JobView>('GET', `/jobs/${j.id}`, auth(j.tenant));
      if (res.status !== 200) throw new DemoAbort(`GET /jobs/${j.id} answered ${res.status}: ${JSON.stringify(res.body)}`);
      return res.body;
    },
    say,
    ms,
    timeoutMs: JOBS_TIMEOUT_MS,
    pollMs: POLL_MS,
  });

  // 4. Real hands: AGENT=cli on a real repository, and a cancelled CLI run.
  say();
  say(`4) real hands: a coding-agent CLI in a git worktree, the project's own tests as review, the branch pushed; a long CLI run cancelled`);
  const hands = await realHands({ say, ms, boot: bootService, redisUrl: REDIS_URL, mongoUri: MONGODB_URI, prefix: `${PREFIX}_cli`, timeoutMs: Math.max(JOBS_TIMEOUT_MS, 120_000) });
  cleanups.push(hands.cleanup);

  // 5. Pipelines: the built-in dev-test-regression on the same broken repository.
  say();
  say('5) pipelines: dev-test-regression on google/uuid broken in one function — a failing test spawns dev with its output, then passes');
  const pipeline = await pipelineDemo({ say, ms, http, auth: auth(REST_TENANT), timeoutMs: Math.max(JOBS_TIMEOUT_MS, 120_000) });
  cleanups.push(async () => pipeline.cleanup());
  checks.push({ what: `the dev-test-regression run converged after one regression round${pipeline.problem ? ` (${pipeline.problem})` : ''}`, pass: pipeline.ok });

  // 6. Report.
  reportJobs(jobs, hands, checks, say);
  const jobsOk = jobs.filter((j) => !j.problem).length + hands.rows.filter((r) => r.ok).length;
  const total = jobs.length + hands.rows.length;
  const checksOk = checks.filter((c) => c.pass).length;
  const pass = jobsOk === total && checksOk === checks.length && jobs.length === variants.length + 2 && hands.rows.length === 2;
  say();
  say(
    `${pass ? 'PASS' : 'FAIL'}: ${jobsOk}/${total} jobs reached their expected state, ${checksOk}/${checks.length} checks held; ` +
      `${replay.length + variants.length + 3} deliveries, ${total} jobs, ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  return pass ? 0 : 1;
}

/* ------------------------------------------------------------------------------------------ */
/* entry point                                                                                 */
/* ------------------------------------------------------------------------------------------ */

let cleaning: Promise<void> | undefined;
/** Set by SIGINT/SIGTERM: the demo stops, cleans up and exits 128+N. */
let interruptedBy: NodeJS.Signals | undefined;

/** Stops the service and removes the run's data (the log too, unless `keepLog`); idempotent. */
function cleanup(keepLog: boolean): Promise<void> {
  cleaning ??= (async () => {
    for (const s of services) await s.stop(STOP_GRACE_MS, say);
    await dropRunData(MONGODB_URI, REDIS_URL, PREFIX, say);
    for (const c of cleanups) await c().catch(() => undefined);
    for (const s of services) {
      if (!keepLog) fs.rmSync(s.logFile, { force: true });
      else say(`service log kept at ${s.logFile}`);
    }
  })();
  return cleaning;
}

function finish(code: number): void {
  void cleanup(code !== 0).finally(() => process.exit(interruptedBy ? 128 + (os.constants.signals[interruptedBy] ?? 1) : code));
}

function onSignal(signal: NodeJS.Signals): void {
  if (interruptedBy) return;
  interruptedBy = signal;
  say(`\nreceived ${signal}; stopping the service and cleaning up`);
  finish(1);
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

demo().then(
  (code) => {
    if (!interruptedBy) finish(code);
  },
  (e: unknown) => {
    if (interruptedBy) return; // the signal handler is already cleaning up
    say(`\ndemo failed: ${e instanceof Error ? e.message : String(e)}`);
    if (!(e instanceof ScriptAbort) && e instanceof Error && e.stack) say(e.stack);
    if (service) printTail(service);
    finish(1);
  },
);
