import { Injectable } from '@nestjs/common';
import { runProgress, type RunActor, type RunProgress } from '../pipelines/run-events';
import type { PipelineEvent, RunStatus } from '../pipelines/pipeline.types';
import { parseTemplateText, validateTemplate, type PipelineTemplate } from '../pipelines/template.schema';
import { MongoRunRepository } from './mongo-run.repository';
import { MongoTemplateRepository, type TemplateVersion } from './mongo-template.repository';
import { PipelineNotFoundError } from './run.errors';
import type { RunRecord } from './run.record';
import { RunArtifactStore, type ArtifactConsumption, type RunArtifact } from './run-artifacts';
import { RunEngine } from './run-engine';
import { StepAttemptRepository, type StepAttempt } from './step-attempts';
import { StepDurations } from './step-durations';
import { TemplateCheck } from './template-check';

/** How long past step durations are reused for ETAs, ms. */
const PAST_DURATIONS_TTL_MS = 5000;

/** The use cases behind the pipeline REST API, all scoped to a tenant. */
@Injectable()
export class RunsService {
  /** Past step durations by tenant and template name (the ETA's input, see StepDurations), reused PAST_DURATIONS_TTL_MS: an ETA need not see the last few seconds (GET and POST /runs answer with progress). */
  private readonly past = new Map<string, { at: number; steps: string; durations: Record<string, number> }>();

  constructor(
    private readonly runs: MongoRunRepository,
    private readonly templates: MongoTemplateRepository,
    private readonly engine: RunEngine,
    private readonly attempts: StepAttemptRepository,
    private readonly durations: StepDurations,
    private readonly artifacts: RunArtifactStore,
    private readonly check: TemplateCheck,
  ) {}

  /**
   * Validates and stores a template (JSON object, or YAML/JSON text) as the tenant's next version
   * of its name; an unchanged template returns the latest version (`created: false`).
   * @throws InvalidTemplateError naming each JSON path.
   */
  async saveTemplate(tenantId: string, raw: unknown): Promise<{ stored: TemplateVersion; created: boolean }> {
    const value = typeof raw === 'string' ? parseTemplateText(raw) : raw;
    const template: PipelineTemplate = validateTemplate(value, this.check.options());
    return this.templates.save(tenantId, template);
  }

  listTemplates(tenantId: string): Promise<TemplateVersion[]> {
    return this.templates.listFor(tenantId);
  }

  /** @throws PipelineNotFoundError TEMPLATE_NOT_FOUND. */
  async template(tenantId: string, name: string, version?: number): Promise<TemplateVersion> {
    const t = await this.templates.resolve(tenantId, name, version);
    if (!t) throw new PipelineNotFoundError('TEMPLATE_NOT_FOUND', `template ${name}${version !== undefined ? `@${version}` : ''} not found`);
    return t;
  }

  async templateVersions(tenantId: string, name: string): Promise<TemplateVersion[]> {
    const own = await this.templates.versions(tenantId, name);
    const all = own.length ? own : await this.templates.versions('builtin', name);
    if (!all.length) throw new PipelineNotFoundError('TEMPLATE_NOT_FOUND', `template ${name} not found`);
    return all;
  }

  async pausedReason(tenantId: string, name: string): Promise<string | null> {
    return this.templates.pausedReason(tenantId, name);
  }

  /** Lifts a template's quarantine. @throws PipelineNotFoundError when it was not paused (nor exists). */
  async releaseTemplate(tenantId: string, name: string): Promise<void> {
    await this.template(tenantId, name);
    await this.templates.unpause(tenantId, name);
  }

  create(tenantId: string, template: string, version: number | undefined, inputs: Record<string, unknown>, actor: RunActor): Promise<RunRecord> {
    return this.engine.create(tenantId, template, version, inputs, actor);
  }

  list(tenantId: string, q: { status?: RunStatus; template?: string; limit: number; cursor?: string }) {
    return this.runs.list({ tenantId, ...q });
  }

  /** @throws PipelineNotFoundError RUN_NOT_FOUND (also for another tenant's run). */
  async get(tenantId: string, id: string): Promise<RunRecord> {
    const run = await this.runs.findById(id, tenantId);
    if (!run) throw new PipelineNotFoundError('RUN_NOT_FOUND', `run ${id} not found`);
    return run;
  }

  async attemptsOf(tenantId: string, id: string): Promise<StepAttempt[]> {
    await this.get(tenantId, id);
    return this.attempts.listForRun(id);
  }

  async progress(run: RunRecord): Promise<RunProgress> {
    const steps = Object.keys(run.snapshot.context.steps);
    const key = steps.join(',');
    const template = `${run.tenantId}:${run.template.name}`;
    let cached = this.past.get(template);
    if (!cached || cached.steps !== key || Date.now() - cached.at > PAST_DURATIONS_TTL_MS) {
      cached = { at: Date.now(), steps: key, durations: await this.durations.medians(run.tenantId, run.template.name, steps) };
      // Kept only once every step has a past duration: until then, the first run's end must show in the next one's ETA.
      if (this.past.size >= 1000) this.past.delete(this.past.keys().next().value!);
      if (Object.keys(cached.durations).length === steps.length) this.past.set(template, cached);
    }
    const past = cached.durations;
    return runProgress(run.snapshot.context, run.startedAt ?? run.createdAt, run.endedAt, past);
  }

  async send(tenantId: string, id: string, event: PipelineEvent, actor: RunActor): Promise<RunRecord> {
    return (await this.engine.send(id, tenantId, event, actor, { strict: true })).run;
  }

  /** @throws PipelineNotFoundError STEP_NOT_FOUND for a step the run's template does not have. */
  async retryStep(tenantId: string, id: string, step: string, actor: RunActor): Promise<RunRecord> {
    const run = await this.get(tenantId, id);
    if (!Object.hasOwn(run.snapshot.context.steps, step)) {
      throw new PipelineNotFoundError('STEP_NOT_FOUND', `run ${id} has no step ${step}; steps: ${Object.keys(run.snapshot.context.steps).join(', ')}`);
    }
    return this.send(tenantId, id, { type: 'RETRY_STEP', step }, actor);
  }

  async artifactsOf(tenantId: string, id: string): Promise<{ artifacts: RunArtifact[]; consumption: ArtifactConsumption[] }> {
    await this.get(tenantId, id);
    const [artifacts, consumption] = await Promise.all([this.artifacts.listForRun(id), this.artifacts.consumptionOfRun(id)]);
    return { artifacts, consumption };
  }

  /** Who produced an artifact and who consumed it. @throws PipelineNotFoundError ARTIFACT_NOT_FOUND. */
  async lineage(tenantId: string, artifactId: string): Promise<{ artifact: RunArtifact; producer: RunArtifact['producer'] & { runId: string }; consumers: ArtifactConsumption[] }> {
    const artifact = await this.artifacts.find(artifactId, tenantId);
    if (!artifact) throw new PipelineNotFoundError('ARTIFACT_NOT_FOUND', `artifact ${artifactId} not found`);
    return { artifact, producer: { runId: artifact.runId, ...artifact.producer }, consumers: await this.artifacts.consumersOf(artifactId) };
  }
}
