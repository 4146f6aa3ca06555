import { z } from 'zod';
import { isSecretName } from '../tools/child-env';

const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);
const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

/**
 * Environment variables, validated at start (zod). Units are in the names: `_MS` = milliseconds.
 * An invalid value stops the process with the variable's name and the reason.
 */
export const configSchema = z.object({
  PORT: int(3000, 0),
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  MONGODB_URI: z.string().min(1).default('mongodb://127.0.0.1:27017'),
  MONGODB_DB: z.string().min(1).default('aicd'),
  /**
   * The compare-and-set of commits. `auto`: one `updateOne({ _id, version })` when the server
   * applies an update atomically with its filter (MongoDB, FerretDB v2 — told by `buildInfo` at
   * startup), version claims otherwise (FerretDB v1). `version-claim`: claims on any server.
   */
  STORE_CAS: z.enum(['auto', 'version-claim']).default('auto'),
  /** Prefix of every BullMQ key, so several deployments (or test runs) share one Redis. */
  QUEUE_PREFIX: z.string().min(1).default('aicd'),
  /** `mock`: the scripted MockAgent. `cli`: a coding-agent CLI (AGENT_CLI) in a git worktree per job. */
  AGENT: z.enum(['mock', 'cli']).default('mock'),
  /** Which coding-agent CLI `AGENT=cli` drives. */
  AGENT_CLI: z.enum(['claude', 'codex', 'gemini', 'aider', 'custom']).default('claude'),
  /** Path of the CLI's binary (default: its name on PATH: claude, codex, gemini, aider). */
  AGENT_CLI_BIN: z.string().default(''),
  /**
   * For AGENT_CLI=custom: the argv template, a JSON array of strings, with placeholders
   * `{promptFile}`, `{workspace}`, `{stage}`, `{mode}` (e.g. `["my-agent","--prompt","{promptFile}"]`).
   */
  AGENT_CLI_COMMAND: z.string().default(''),
  /** Turn limit passed to CLIs that have one (claude --max-turns). 0 = the CLI's default. */
  AGENT_CLI_MAX_TURNS: int(0),
  /** Extra environment variable names passed to the agent CLI (comma-separated), beside its own (API keys) and the minimal allowlist. */
  AGENT_CLI_ENV: z.string().default(''),
  /** Directory of the prompt templates (plan.md, code.md, review.md); default: prompts/ of the repository. */
  PROMPTS_DIR: z.string().default(''),
  /** A CLI call (and the review checks) with no output for this many ms is killed as idle (0 = none). */
  TOOL_IDLE_TIMEOUT_MS: int(300_000),
  /** ms between SIGTERM and SIGKILL to a tool's process group (cancel, timeout, idle timeout). */
  KILL_GRACE_MS: int(5000),
  /** Consecutive infrastructure failures of a tool (missing binary, crash, rate limit) that open its circuit breaker. */
  TOOL_BREAKER_THRESHOLD: int(5, 1),
  /** ms an open circuit breaker waits before it lets one call try again (half-open). */
  TOOL_BREAKER_HALF_OPEN_MS: int(30_000, 1),
  /** How often a running stage attempt writes its heartbeat (and the worker its registry entry), ms. */
  HEARTBEAT_MS: int(5000, 100),
  /** A running attempt whose heartbeat is older than this is dead: its stage runs again as a new attempt, ms. */
  HEARTBEAT_TIMEOUT_MS: int(30_000, 1000),
  /** Pipeline step messages one worker process runs at once (the global limit is this × step workers, see PIPELINE_MAX_RUNNING_STEPS). */
  PIPELINE_STEP_CONCURRENCY: int(8, 1),
  /** Steps running at once across all workers and tenants (0 = only the workers' concurrency). The excess waits and spends no attempt. */
  PIPELINE_MAX_RUNNING_STEPS: int(0),
  /** Steps of one tenant running at once across all workers (0 = no limit). The excess waits and spends no attempt. */
  PIPELINE_TENANT_MAX_RUNNING_STEPS: int(0),
  /** Root of the pipeline runs' workspaces on the worker's disk (default: <tmpdir>/aicd-runs). */
  PIPELINE_WORK_ROOT: z.string().default(''),
  /** Error codes that quarantine a run instead of failing the step (comma-separated; a shell step's exit status N is `EXIT_N`). */
  PIPELINE_QUARANTINE_CODES: z.string().default('TOOL_NOT_FOUND,TOOL_NOT_EXECUTABLE'),
  /** Router of capabilities to tools (JSON): `{ "coder": { "strategy": "fixed|round_robin|auto", "tools": ["claude", "codex"] } }`. */
  PIPELINE_ROUTER: z.string().default('{}'),
  /** Log bytes kept per stage attempt; past it the oldest lines are dropped (with a marker). */
  LOG_MAX_BYTES: int(1_000_000, 1024),
  /** Root of the git mirrors and job worktrees on this worker's local disk (default: <tmpdir>/aicd-workspaces). */
  WORKSPACE_ROOT: z.string().default(''),
  /** A worktree bigger than this after a stage is a permanent stage error (WORKSPACE_TOO_LARGE), bytes. */
  WORKSPACE_MAX_BYTES: int(2_000_000_000, 1),
  /** Clone URL of a repository: `{repository}` is its owner/name; file:// URLs and absolute paths allowed. */
  GIT_URL_TEMPLATE: z.string().default('https://github.com/{repository}.git'),
  /** Token for git fetch/push over HTTPS (given to git through GIT_ASKPASS only). GITHUB_TOKEN is used when empty. */
  GIT_TOKEN: z.string().default(''),
  GIT_AUTHOR_NAME: z.string().min(1).default('aicd-orchestrator'),
  GIT_AUTHOR_EMAIL: z.string().min(1).default('aicd-orchestrator@users.noreply.github.com'),
  /** A code stage's diff over this many bytes is refused (CODE_FAILED, DIFF_TOO_LARGE). */
  MAX_DIFF_BYTES: int(1_000_000, 1),
  /** The repository's checks run by review, in the worktree with `sh -c` (e.g. `npm test`); a tenant setting overrides it. Empty: no checks. */
  REVIEW_COMMAND: z.string().default(''),
  /** Environment variables the checks get from the worker (comma-separated), beside the minimal allowlist (PATH, HOME, LANG…). */
  REVIEW_COMMAND_ENV: z.string().default('GOPATH,GOCACHE,GOMODCACHE,GOFLAGS,GOPROXY,GOTOOLCHAIN,NPM_CONFIG_CACHE,CI'),
  /** ms the checks may run before they are killed (a rejection naming the timeout). */
  REVIEW_TIMEOUT_MS: int(600_000, 1),
  /** After passing checks, also ask the agent CLI for a review (read-only). */
  REVIEW_AGENT: bool(false),
  /** Per-job spending limit in US dollars (0 = none); a tenant setting overrides it. */
  JOB_BUDGET_USD: z.coerce.number().min(0).default(0),
  /** Per-job limit of input + output tokens (0 = none); a tenant setting overrides it. */
  JOB_BUDGET_TOKENS: int(0),
  /** `mock`: simulated PRs. `git`: push the branch and record a compare reference. `github`: push and open a PR (Octokit). */
  PR_GATEWAY: z.enum(['mock', 'git', 'github']).default('mock'),
  /** Open pull requests as drafts. */
  PR_DRAFT: bool(false),
  /** GitHub token (PAT or installation token) for PR_GATEWAY=github, and for git when GIT_TOKEN is empty. */
  GITHUB_TOKEN: z.string().default(''),
  /** GitHub REST API base URL (GitHub Enterprise: https://<host>/api/v3). */
  GITHUB_API_URL: z.string().url().default('https://api.github.com'),
  /** GitHub App authentication instead of a token: the App id, its private key (PEM) and the installation id. */
  GITHUB_APP_ID: z.string().default(''),
  GITHUB_APP_PRIVATE_KEY: z.string().default(''),
  GITHUB_APP_INSTALLATION_ID: z.string().default(''),
  MOCK_AGENT_DELAY_MS: int(200),
  /** Stages in which the mock fails permanently for every job, comma-separated (e.g. `coding`). */
  MOCK_AGENT_FAIL_STAGES: z.string().default(''),
  /** Transient failures per stage for every job, e.g. `planning:1,coding:2` (first n attempts fail). */
  MOCK_AGENT_TRANSIENT: z.string().default(''),
  /** Review rounds the mock rejects for every job before approving. */
  MOCK_AGENT_REJECTIONS: int(0),
  /**
   * Off when empty. When set, the MockAgent RPUSHes one JSON line per call event to this Redis
   * list (`{ jobId, stage, attempt, key, pid, at, phase, aborted? }`), so tests can count agent
   * calls across processes (test/chaos).
   */
  MOCK_AGENT_CALL_LOG_KEY: z.string().default(''),
  /** Attempts per stage message (BullMQ `attempts`), including the first. */
  STAGE_ATTEMPTS: int(3, 1),
  /** First backoff delay in ms; BullMQ's exponential backoff doubles it each retry. */
  STAGE_BACKOFF_MS: int(1000, 0),
  CONCURRENCY_PLANNING: int(4, 1),
  CONCURRENCY_CODING: int(4, 1),
  CONCURRENCY_REVIEWING: int(4, 1),
  CONCURRENCY_PR_OPEN: int(4, 1),
  /** Records a worker keeps from its own commits, so the next stage in that process skips one read (0 = off). */
  STAGE_RECORD_CACHE_SIZE: int(1000, 0),
  /**
   * Stages one delivery may run after its own, in process, when this process also serves the next
   * stage (continuation: no queue hop, no read; each stage still commits with compare-and-set).
   * 0 = off: every stage is its own BullMQ message, and per-stage CONCURRENCY_* caps count agent
   * calls exactly (with continuation a continued call runs in the delivering message's slot).
   */
  STAGE_CONTINUE_MAX: int(8, 0),
  /** A stage's agent call is aborted after this many ms and counts as a failed attempt (0 = no limit). */
  STAGE_TIMEOUT_MS: int(0),
  /** A job not finished this many ms after submission goes to FAILED with JOB_DEADLINE_EXCEEDED (0 = none). */
  JOB_DEADLINE_MS: int(0),
  /** BullMQ lock duration of an active stage message, ms; a worker silent for longer loses it (stalled). */
  WORKER_LOCK_DURATION_MS: int(30_000, 1000),
  /** How often workers look for stalled messages, ms. */
  WORKER_STALLED_INTERVAL_MS: int(30_000, 1000),
  /** Times a message may stall before it fails (BullMQ `maxStalledCount`). */
  WORKER_MAX_STALLED_COUNT: int(1),
  /** On SIGTERM, ms to let running agent calls finish before they are aborted and released. */
  SHUTDOWN_GRACE_MS: int(10_000),
  /** Reviews allowed per job before it fails with REVIEW_ROUNDS_EXCEEDED. */
  MAX_REVIEW_ROUNDS: int(3, 1),
  /** PR_OPEN → COMPLETED as soon as the PR is open (else wait for MARK_COMPLETED). */
  AUTO_COMPLETE: bool(true),
  /** How often the sweeper looks for jobs without a pending stage message, ms (0 = off). */
  SWEEP_INTERVAL_MS: int(5000, 0),
  /** A job must be this old since its last update before the sweeper repairs it, ms. */
  SWEEP_GRACE_MS: int(10000, 0),
  /**
   * Accept `X-Tenant-Id` (without an API key) as the caller's tenant: development and tests only.
   * When false, every tenant route needs `Authorization: Bearer <api key>`.
   */
  ALLOW_TENANT_HEADER: bool(false),
  /** Jobs a tenant may have active (PLANNING…PR_OPEN) at once; more wait in QUEUED (0 = no limit). A tenant record may override it. */
  TENANT_MAX_ACTIVE_JOBS: int(0),
  /** How long a planning message of a tenant at its limit waits before it asks again, ms (±20 % jitter). */
  TENANT_LIMIT_RETRY_MS: int(1000, 1),
  /** How long a process reuses a tenant record it read (budget settings, active-job limit), ms; a change made elsewhere applies within this (0 = read every time). */
  TENANT_CACHE_MS: int(5000, 0),
  GITHUB_WEBHOOK_SECRET: z.string().optional(),
  GITHUB_WEBHOOK_TENANT: z.string().min(1).default('default'),
  /** An `issues.labeled` delivery creates a job only for this label. */
  GITHUB_WEBHOOK_LABEL: z.string().min(1).default('ai-cd'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Largest accepted request body, bytes. */
  BODY_LIMIT_BYTES: int(1_000_000, 1),
  /**
   * Bearer token (or Basic password, any user) of the operator pages: Bull Board at /admin/queues.
   * Empty: those pages answer 503 saying to set it. At least 16 characters when set.
   */
  ADMIN_TOKEN: z.union([z.literal(''), z.string().min(16, 'ADMIN_TOKEN must be empty or at least 16 characters')]).default(''),
  /** Entries kept in each tenant's event stream (Redis Stream, approximate trim): how far back Last-Event-ID can resume. */
  EVENTS_STREAM_MAXLEN: int(10_000, 100),
  /**
   * After each read of a tenant's event stream, its reader waits this long before the next one, so
   * a burst of commits reaches each SSE client as one write instead of one per commit, ms (0: read
   * again at once). The first event after a quiet spell is not delayed; later ones by at most this.
   */
  EVENTS_COALESCE_MS: int(50, 0),
  /** An SSE client (GET /events/stream, log streams) with this many bytes unsent is disconnected rather than buffered. */
  SSE_CLIENT_MAX_BUFFER_BYTES: int(1_000_000, 1024),
  /** Directory of the built dashboard served at /ui (default: ui/dist of the repository). */
  UI_DIR: z.string().default(''),
  // --- observability (src/observability, README "Observability") ---
  /** When set, `GET /metrics` requires `Authorization: Bearer <METRICS_TOKEN>`; empty: open, like /healthz. */
  METRICS_TOKEN: z.string().default(''),
  /**
   * A process without the API (`--role=worker`) serves its own `GET /metrics` on this port, on all
   * interfaces (0 = none). API processes serve /metrics on PORT.
   */
  METRICS_PORT: int(0, 0),
  /** ms the per-state job counts of `aicd_jobs` are reused between scrapes (a recount reads `jobs`: see src/observability/job-state-counts.ts); 0 = count on every scrape. */
  METRICS_JOB_COUNTS_TTL_MS: int(10_000, 0),
  /**
   * OTLP/HTTP base URL (e.g. `http://collector:4318`; spans go to `<it>/v1/traces`, JSON). Unset:
   * tracing is off and no OpenTelemetry SDK is loaded. Read from the environment by
   * src/observability/tracing.ts before anything else loads; validated here with the rest.
   */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url().optional(),
  /** `service.name` of the exported spans. */
  OTEL_SERVICE_NAME: z.string().min(1).default('aicd-orchestrator'),
});

export type AppConfig = z.infer<typeof configSchema>;

/**
 * Validates `env` (for `ConfigModule.forRoot({ validate })`).
 * @throws Error naming every invalid variable.
 */
export function validateConfig(env: Record<string, unknown>): AppConfig {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

/** DI token of the validated {@link AppConfig}. */
export const APP_CONFIG = Symbol('APP_CONFIG');

/**
 * The secret values this process holds: the config's tokens and keys, and every environment
 * variable whose name looks secret (isSecretName: agent CLIs' API keys, for instance).
 */
export function secretsOf(config: AppConfig, env: NodeJS.ProcessEnv): string[] {
  const own = [config.GIT_TOKEN, config.GITHUB_TOKEN, config.GITHUB_APP_PRIVATE_KEY, config.GITHUB_WEBHOOK_SECRET ?? ''];
  const named = Object.entries(env)
    .filter(([k, v]) => isSecretName(k) && !k.startsWith('npm_') && typeof v === 'string')
    .map(([, v]) => v as string);
  return [...own, ...named].filter((v) => v.length > 0);
}
