/**
 * Runs one attempt of one step: prepares the run's workspace, materializes the step's inputs
 * (checking every hash and recording each consumption), calls the tool, stores the outputs as
 * artifacts, and tells what the attempt came to. Knows nothing of the statechart or the queue.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { execa } from 'execa';
import { glob } from 'tinyglobby';
import { shellCommand } from '../tools/shell.adapter';
import { ToolCircuitOpenError, ToolStartError, type ProcessInfo, type ToolAdapter, type ToolResult } from '../tools/tool.port';
import type { ToolBreakers } from '../tools/tool-breakers';
import type { StepTemplate } from '../pipelines/template.schema';
import type { PipelineContext } from '../pipelines/pipeline.types';
import { PIPELINE_FUNCTIONS } from './step-functions';
import { ReviewRejectedError, runAgentStep } from './agent-step';
import type { Agent } from '../agents/agent.port';
import type { RunArtifact, RunArtifactStore } from './run-artifacts';
import type { RouterChoice } from './step-attempts';
import type { ToolRouter } from './tool-router';

/** Where an attempt stands in its run. */
export interface StepAttemptSpec {
  runId: string;
  tenantId: string;
  runInputs: Record<string, unknown>;
  context: PipelineContext;
  /** The step's id in the run (`dev~1` for a spawned step). */
  step: string;
  def: StepTemplate;
  /** The template's steps (to find who produces an input). */
  steps: readonly StepTemplate[];
  visit: number;
  attempt: number;
  attemptId: string;
  /** Set for a spawned step. */
  spawned?: { parentStepId: string; regressionContext: { reason: string; failingOutput?: string } };
  signal: AbortSignal;
  onProcess?(info: ProcessInfo): void;
}

/** What an attempt came to. */
export type StepAttemptResult =
  | { kind: 'succeeded'; artifacts: RunArtifact[]; result: ToolResult | null; router: RouterChoice | null; consumed: RunArtifact[] }
  | { kind: 'spawn'; spawn: string; reason: string; failingOutput?: string; result: ToolResult | null; router: RouterChoice | null; consumed: RunArtifact[] }
  | { kind: 'failed'; code: string; message: string; retryable: boolean; result: ToolResult | null; router: RouterChoice | null; consumed: RunArtifact[]; retryAfterMs?: number }
  | { kind: 'aborted'; result: ToolResult | null; router: RouterChoice | null; consumed: RunArtifact[] };

/** A step failure with a code (inputs, outputs, spawn requests). */
export class StepError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryable = false,
  ) {
    super(message);
  }
}

/** `AICD_INPUT_<NAME>`: upper case, non-alphanumerics as `_`. */
export function envName(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

const TAIL_BYTES = 4096;

export interface StepExecutorDeps {
  adapters: Map<string, ToolAdapter>;
  breakers: ToolBreakers;
  artifacts: RunArtifactStore;
  router: ToolRouter;
  /** The Agent port for `agent` steps (see agent-step.ts). */
  agent?: Agent;
  /** Root of the runs' workspaces. */
  workRoot: string;
  fetch?: typeof fetch;
}

export class StepExecutor {
  constructor(private readonly deps: StepExecutorDeps) {}

  /** The run's workspace on this worker: `<root>/<runId>/work`, a clone of `inputs.repository` when given. */
  runDir(runId: string): string {
    return join(this.deps.workRoot, runId);
  }

  async execute(spec: StepAttemptSpec): Promise<StepAttemptResult> {
    let router: RouterChoice | null = null;
    let consumed: RunArtifact[] = [];
    let result: ToolResult | null = null;
    try {
      const work = await this.ensureWorkspace(spec.runId, spec.runInputs);
      const scratch = join(this.runDir(spec.runId), 'attempts', spec.attemptId.replace(/[^A-Za-z0-9_.~-]/g, '_'));
      await rm(scratch, { recursive: true, force: true });
      await mkdir(scratch, { recursive: true });
      const materialized = await this.materializeInputs(spec, scratch);
      consumed = materialized.consumed;
      let tool = spec.def.tool;
      if (tool.startsWith('@')) {
        router = await this.deps.router.route(tool.slice(1));
        tool = router.tool;
      }
      const resultFile = join(scratch, 'result.json');
      const spawnFile = join(scratch, 'spawn.json');
      const env = this.stepEnv(spec, materialized.env, resultFile, spawnFile);
      const call = await this.callTool(tool, spec, work, env, materialized.json);
      result = call.result;
      if (spec.signal.aborted || result?.termination === 'aborted') return { kind: 'aborted', result, router, consumed };
      const outcome = result?.outcome ?? { kind: 'success' as const, message: '' };
      // A spawn request: the spawn file, or a failure of a step with `spawnOnFailure`.
      const spawnReq = await readJson(spawnFile);
      if (spawnReq !== undefined || (outcome.kind !== 'success' && typeof spec.def.with.spawnOnFailure === 'string')) {
        if (spec.spawned) throw new StepError('SPAWN_NOT_ALLOWED', `step ${spec.step} was itself spawned and cannot spawn`);
        const req = (spawnReq ?? {}) as { step?: unknown; reason?: unknown; failingOutput?: unknown };
        const target = typeof req.step === 'string' ? req.step : (spec.def.with.spawnOnFailure as string);
        if (!spec.steps.some((s) => s.id === target)) throw new StepError('UNKNOWN_SPAWN_STEP', `step ${spec.step} asked to spawn unknown step ${JSON.stringify(target)}`);
        const failing = typeof req.failingOutput === 'string' ? req.failingOutput : tail(`${result?.stdoutTail ?? ''}\n${result?.stderrTail ?? ''}`.trim());
        const reason = typeof req.reason === 'string' ? req.reason : outcome.kind === 'success' ? `${spec.step} asked for ${target}` : `${spec.step} failed (${outcome.code}): ${outcome.message}`;
        return { kind: 'spawn', spawn: target, reason: reason.slice(0, 2000), failingOutput: failing, result, router, consumed };
      }
      if (outcome.kind !== 'success') {
        return { kind: 'failed', code: outcome.code, message: outcome.message, retryable: outcome.code !== 'ABORTED', result, router, consumed, ...(outcome.kind === 'transient' && outcome.retryAfterMs ? { retryAfterMs: outcome.retryAfterMs } : {}) };
      }
      const json = call.value !== undefined ? call.value : await readJson(resultFile);
      const artifacts = await this.storeOutputs(spec, work, json);
      return { kind: 'succeeded', artifacts, result, router, consumed };
    } catch (e) {
      if (spec.signal.aborted) return { kind: 'aborted', result, router, consumed };
      if (e instanceof ToolCircuitOpenError) return { kind: 'failed', code: e.code, message: e.message, retryable: true, result, router, consumed, retryAfterMs: e.retryAfterMs };
      if (e instanceof ToolStartError) return { kind: 'failed', code: e.code, message: e.message, retryable: e.code !== 'TOOL_BAD_REQUEST', result, router, consumed };
      const code = (e as { code?: unknown }).code;
      const retryable = (e as { retryable?: unknown }).retryable;
      return { kind: 'failed', code: typeof code === 'string' ? code : 'STEP_ERROR', message: e instanceof Error ? e.message : String(e), retryable: typeof retryable === 'boolean' ? retryable : true, result, router, consumed };
    }
  }

  /** Creates the run's workspace once per worker: a clone of `inputs.repository` (local path or URL), else empty. */
  private async ensureWorkspace(runId: string, inputs: Record<string, unknown>): Promise<string> {
    const work = join(this.runDir(runId), 'work');
    if (existsSync(work)) return work;
    const tmp = `${work}.tmp-${randomUUID().slice(0, 8)}`;
    await mkdir(dirname(work), { recursive: true });
    if (typeof inputs.repository === 'string' && inputs.repository) {
      await execa('git', ['clone', '--quiet', '--', inputs.repository, tmp], { stdin: 'ignore', env: { GIT_TERMINAL_PROMPT: '0' } });
    } else {
      await mkdir(tmp, { recursive: true });
    }
    try {
      await rename(tmp, work);
    } catch {
      await rm(tmp, { recursive: true, force: true }); // another step of the run made it first
    }
    return work;
  }

  /**
   * Writes each input artifact under `<scratch>/inputs/<name>/` (checking its hashes) and records
   * the consumption. An input comes from its producing step's last successful visit, or from the
   * newest successful spawned instance of that step when one exists (the regression loop).
   * @throws StepError INPUT_MISSING; ArtifactHashMismatchError on a corrupt read.
   */
  private async materializeInputs(spec: StepAttemptSpec, scratch: string): Promise<{ env: Record<string, string>; json: Record<string, unknown>; consumed: RunArtifact[] }> {
    const env: Record<string, string> = {};
    const json: Record<string, unknown> = {};
    const consumed: RunArtifact[] = [];
    for (const name of spec.def.inputs) {
      const producer = spec.steps.find((s) => Object.hasOwn(s.outputs, name));
      if (!producer) throw new StepError('INPUT_MISSING', `input ${name}: no step produces it`);
      const spawnedIds = spec.context.spawned.filter((s) => s.templateStep === producer.id && s.status === 'succeeded' && s.artifacts?.[name]).map((s) => s.artifacts![name]);
      const id = spawnedIds[spawnedIds.length - 1] ?? spec.context.steps[producer.id]?.artifacts?.[name];
      if (!id) throw new StepError('INPUT_MISSING', `input ${name}: step ${producer.id} has not produced it in this run`);
      const artifact = await this.deps.artifacts.find(id);
      if (!artifact) throw new StepError('INPUT_MISSING', `input ${name}: artifact ${id} is not stored`);
      const content = await this.deps.artifacts.read(artifact);
      const dir = join(scratch, 'inputs', name);
      await mkdir(dir, { recursive: true });
      if (artifact.kind === 'json') {
        json[name] = content.json;
        const file = join(dir, `${name}.json`);
        await writeFile(file, JSON.stringify(content.json));
        env[`AICD_INPUT_PATH_${envName(name)}`] = file;
        env[`AICD_INPUT_JSON_${envName(name)}`] = JSON.stringify(content.json).slice(0, 65_536);
      } else {
        for (const f of content.files) {
          const target = resolve(dir, f.path);
          if (!target.startsWith(dir + sep)) throw new StepError('INPUT_MISSING', `input ${name}: file path ${f.path} leaves its directory`);
          await mkdir(dirname(target), { recursive: true });
          await writeFile(target, f.content);
        }
        env[`AICD_INPUT_PATH_${envName(name)}`] = content.files.length === 1 ? resolve(dir, content.files[0].path) : dir;
      }
      await this.deps.artifacts.recordConsumption({ artifactId: artifact.id, runId: spec.runId, tenantId: spec.tenantId, step: spec.step, visit: spec.visit, attempt: spec.attempt, attemptId: spec.attemptId, sha256: artifact.sha256 });
      consumed.push(artifact);
    }
    return { env, json, consumed };
  }

  private stepEnv(spec: StepAttemptSpec, inputEnv: Record<string, string>, resultFile: string, spawnFile: string): Record<string, string> {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(spec.runInputs)) {
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') env[`AICD_INPUT_${envName(k)}`] = String(v);
    }
    Object.assign(env, inputEnv);
    const rounds = spec.context.spawned.filter((s) => s.parentStepId === spec.step).length;
    Object.assign(env, {
      AICD_RUN_ID: spec.runId,
      AICD_STEP: spec.step,
      AICD_VISIT: String(spec.visit),
      AICD_ATTEMPT: String(spec.attempt),
      AICD_RESULT_FILE: resultFile,
      AICD_SPAWN_FILE: spawnFile,
      AICD_SPAWN_ROUNDS: String(rounds),
    });
    if (spec.spawned) {
      env.AICD_PARENT_STEP = spec.spawned.parentStepId;
      env.AICD_REGRESSION_REASON = spec.spawned.regressionContext.reason;
      env.AICD_REGRESSION_OUTPUT = spec.spawned.regressionContext.failingOutput ?? '';
    }
    const own = spec.def.with.env;
    if (own && typeof own === 'object') for (const [k, v] of Object.entries(own as Record<string, unknown>)) if (typeof v === 'string') env[k] = v;
    return env;
  }

  /** Calls the tool; `value` is a function's or an HTTP call's JSON result. */
  private async callTool(tool: string, spec: StepAttemptSpec, cwd: string, env: Record<string, string>, inputs: Record<string, unknown>): Promise<{ result: ToolResult | null; value?: unknown }> {
    const w = spec.def.with;
    const base = { cwd, env, signal: spec.signal, ...(spec.def.timeoutMs ? { timeoutMs: spec.def.timeoutMs } : {}), onSpawn: (info: ProcessInfo) => spec.onProcess?.(info) };
    if (tool === 'spawn') {
      const times = typeof w.times === 'number' ? w.times : 1;
      const rounds = spec.context.spawned.filter((s) => s.parentStepId === spec.step).length;
      if (rounds < times) {
        await writeFile(env.AICD_SPAWN_FILE, JSON.stringify({ step: w.step, reason: typeof w.reason === 'string' ? w.reason : `spawn ${rounds + 1} of ${times}` }));
      }
      return { result: null, value: { rounds } };
    }
    if (tool === 'http') return this.callHttp(spec);
    if (tool === 'agent') {
      if (!this.deps.agent) throw new StepError('TOOL_NOT_FOUND', 'no Agent on this worker');
      const agent = this.deps.agent;
      try {
        const result = await runAgentStep(agent, {
          runId: spec.runId, tenantId: spec.tenantId, step: spec.step, visit: spec.visit, attempt: spec.attempt, attemptId: spec.attemptId,
          args: w, runInputs: spec.runInputs, inputs, signal: spec.signal, onProcess: spec.onProcess,
          ...(spec.spawned ? { regression: spec.spawned.regressionContext } : {}),
        });
        return { result, value: result.value };
      } catch (e) {
        if (!(e instanceof ReviewRejectedError)) throw e;
        // A rejection is the step's failure, with the comments as its output (the regression context of a spawned code step).
        const comments = e.comments.join('\n');
        return { result: { tool: 'agent', exitCode: null, signal: null, pid: null, durationMs: 0, stdoutTail: comments, stderrTail: '', outcome: { kind: 'permanent', code: e.code, message: e.message }, usage: null } };
      }
    }
    if (tool === 'function') {
      const fn = PIPELINE_FUNCTIONS[String(w.name)];
      const adapter = this.adapter('function');
      const result = await this.deps.breakers.execute('function', () =>
        adapter.run({ ...base, fn: (ctx) => fn({ args: w, inputs, runInputs: spec.runInputs, signal: ctx.signal, log: ctx.log }) }),
      );
      return { result, value: result.value };
    }
    const adapter = this.adapter(tool);
    if (tool === 'shell' || tool === 'custom-shell') {
      const result = await this.deps.breakers.execute(tool, () => adapter.run({ ...base, argv: shellCommand(String(w.run)) }));
      return { result };
    }
    // A coding-agent CLI: the prompt from `with.prompt`, the mode from `with.mode` (edit by default).
    const prompt = [String(w.prompt ?? ''), spec.spawned ? `\n\nRegression context: ${spec.spawned.regressionContext.reason}\n${spec.spawned.regressionContext.failingOutput ?? ''}` : ''].join('');
    const result = await this.deps.breakers.execute(tool, () =>
      adapter.run({ ...base, task: { prompt, stage: spec.step, mode: w.mode === 'read-only' ? 'read-only' : 'edit', ...(typeof w.model === 'string' ? { model: w.model } : {}) } }),
    );
    return { result };
  }

  private adapter(tool: string): ToolAdapter {
    const a = this.deps.adapters.get(tool);
    if (!a) throw new StepError('TOOL_NOT_FOUND', `no tool adapter named ${tool} on this worker`);
    return a;
  }

  /** `http`: `with: { url, method?, headers?, body? }`; 2xx → the JSON (or text) body; 5xx and network errors are retryable. */
  private async callHttp(spec: StepAttemptSpec): Promise<{ result: ToolResult | null; value?: unknown }> {
    const w = spec.def.with;
    const started = Date.now();
    const signal = spec.def.timeoutMs ? AbortSignal.any([spec.signal, AbortSignal.timeout(spec.def.timeoutMs)]) : spec.signal;
    const res = await (this.deps.fetch ?? fetch)(String(w.url), {
      method: typeof w.method === 'string' ? w.method : 'GET',
      headers: { 'content-type': 'application/json', ...((w.headers as Record<string, string>) ?? {}) },
      ...(w.body !== undefined ? { body: JSON.stringify(w.body) } : {}),
      signal,
    }).catch((e: unknown) => {
      throw new StepError('HTTP_UNREACHABLE', `http ${String(w.url)}: ${e instanceof Error ? e.message : String(e)}`, true);
    });
    const text = await res.text();
    if (!res.ok) throw new StepError(`HTTP_${res.status}`, `http ${String(w.url)} answered ${res.status}: ${text.slice(0, 500)}`, res.status >= 500 || res.status === 429);
    let value: unknown = text;
    try {
      value = JSON.parse(text);
    } catch {
      /* a text body stays text */
    }
    return { result: { tool: 'http', exitCode: null, signal: null, pid: null, durationMs: Date.now() - started, stdoutTail: tail(text), stderrTail: '', outcome: { kind: 'success', message: '' }, usage: null }, value };
  }

  /**
   * Stores the step's outputs: each file glob (relative to the workspace, at least one file) and
   * the JSON result (the function's value, the HTTP body, or the file `$AICD_RESULT_FILE`).
   * @throws StepError OUTPUT_MISSING.
   */
  private async storeOutputs(spec: StepAttemptSpec, work: string, json: unknown): Promise<RunArtifact[]> {
    const out: RunArtifact[] = [];
    const base = { runId: spec.runId, tenantId: spec.tenantId, producer: { step: spec.step, visit: spec.visit, attempt: spec.attempt, attemptId: spec.attemptId } };
    for (const [name, output] of Object.entries(spec.def.outputs)) {
      if ('json' in output) {
        if (json === undefined) throw new StepError('OUTPUT_MISSING', `output ${name}: the step gave no JSON result (function value, HTTP body, or $AICD_RESULT_FILE)`);
        out.push(await this.deps.artifacts.putJson({ ...base, name }, json));
        continue;
      }
      const paths = (await glob(output.files, { cwd: work, onlyFiles: true, dot: false, followSymbolicLinks: false })).sort();
      if (!paths.length) throw new StepError('OUTPUT_MISSING', `output ${name}: no file matches ${output.files} in the workspace`);
      const files = [];
      for (const p of paths) {
        const abs = resolve(work, p);
        if (relative(work, abs).startsWith('..')) continue;
        files.push({ path: p.split(sep).join('/'), content: await readFile(abs) });
      }
      out.push(await this.deps.artifacts.putFiles({ ...base, name }, files));
    }
    return out;
  }
}

async function readJson(file: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StepError('RESULT_NOT_JSON', `${file.endsWith('spawn.json') ? '$AICD_SPAWN_FILE' : '$AICD_RESULT_FILE'} is not JSON: ${(e as Error).message}`);
  }
}

function tail(s: string): string {
  return s.length > TAIL_BYTES ? s.slice(-TAIL_BYTES) : s;
}
