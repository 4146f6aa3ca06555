import { Controller, Headers, HttpCode, Inject, Post, Req, UnauthorizedException, BadRequestException } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBody, ApiHeader, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors, ApiStoreErrors } from '../common/api-errors';
import { JsonBody } from '../common/json-body.guard';
import { Webhooks } from '@octokit/webhooks';
import type { RawBodyRequest } from '@nestjs/common';
import type { Request } from 'express';
import { z } from 'zod';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { JobsService } from '../jobs/jobs.service';
import { IllegalEventError } from '../lifecycle/job.runtime';
import type { JobEvent, TransitionActor } from '../lifecycle/job.types';
import { TenantRepository } from '../tenants/tenant.repository';

/** The part of a GitHub `issues` delivery we read. */
const issuesPayload = z.object({
  action: z.string(),
  issue: z.object({
    number: z.number().int().nonnegative(),
    title: z.string().min(1).max(1000),
    body: z.string().max(65_536).nullable().optional(),
    html_url: z.string().url(),
  }),
  repository: z.object({ full_name: z.string().regex(/^[\w.-]+\/[\w.-]+$/) }),
  label: z.object({ name: z.string() }).optional(),
});

/** The part of a GitHub `pull_request` delivery we read (docs: "Webhook events and payloads", pull_request). */
const pullRequestPayload = z.object({
  action: z.string(),
  pull_request: z.object({
    number: z.number().int().nonnegative(),
    merged: z.boolean().nullable().optional(),
    html_url: z.string().url(),
    head: z.object({ ref: z.string().min(1).max(255) }),
  }),
  repository: z.object({ full_name: z.string().regex(/^[\w.-]+\/[\w.-]+$/) }),
});

/** Answer to a delivery. */
export interface WebhookAnswer {
  /** True when the delivery maps to a job (created now or before). */
  accepted: boolean;
  jobId?: string;
  tenantId?: string;
  /** False for a redelivery of an issue that already has a job. */
  created?: boolean;
  /** Why nothing was created, for ignored deliveries. */
  ignored?: string;
}

/**
 * GitHub `issues` webhook. `opened`, and `labeled` with GITHUB_WEBHOOK_LABEL, create a job for
 * the tenant whose record lists the repository (`owner/name`, else `owner/*`, case-insensitive),
 * or GITHUB_WEBHOOK_TENANT when no tenant lists it; the job's idempotency key is
 * `github:<owner/name>#<number>`, so a redelivery (same delivery or same issue) answers with the same job. With
 * GITHUB_WEBHOOK_SECRET set, `X-Hub-Signature-256` is verified (@octokit/webhooks) over the raw
 * body; a missing or bad signature is a 401 and creates nothing.
 */
@ApiTags('webhooks')
@Controller('webhooks')
export class GithubWebhookController {
  private readonly webhooks?: Webhooks;

  constructor(
    private readonly jobs: JobsService,
    private readonly tenants: TenantRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    if (config.GITHUB_WEBHOOK_SECRET) this.webhooks = new Webhooks({ secret: config.GITHUB_WEBHOOK_SECRET });
  }

  @Post('github')
  @HttpCode(202)
  @ApiOperation({ summary: 'Receive a GitHub webhook delivery: `issues` opened/labeled creates a job; `pull_request` closed completes (merged) or cancels (not merged) the job of its branch.' })
  @ApiHeader({ name: 'X-GitHub-Event', required: true })
  @ApiHeader({ name: 'X-GitHub-Delivery', required: false })
  @ApiHeader({ name: 'X-Hub-Signature-256', required: false, description: 'Required when GITHUB_WEBHOOK_SECRET is set.' })
  @ApiAcceptedResponse({ description: '{ accepted, jobId, tenantId, created } or { accepted: false, ignored }' })
  @ApiBody({ description: 'The delivery\'s JSON payload (configure the webhook with content type application/json).', schema: { type: 'object' } })
  @JsonBody()
  @ApiErrors({
    400: 'No X-GitHub-Event, or a payload that is not the event\'s shape; `errors` names the field.',
    401: 'X-Hub-Signature-256 is missing or does not match ({ code: BAD_SIGNATURE }).',
  })
  @ApiStoreErrors()
  async receive(
    @Req() req: RawBodyRequest<Request>,
    @Headers('x-github-event') event: string | undefined,
    @Headers('x-hub-signature-256') signature: string | undefined,
    @Headers('x-github-delivery') delivery: string | undefined,
  ): Promise<WebhookAnswer> {
    if (this.webhooks) {
      const raw = req.rawBody?.toString('utf8') ?? '';
      const ok = typeof signature === 'string' && signature.length > 0 && (await this.webhooks.verify(raw, signature).catch(() => false));
      if (!ok) throw new UnauthorizedException({ error: 'Unauthorized', code: 'BAD_SIGNATURE', message: 'X-Hub-Signature-256 is missing or does not match' });
    }
    if (!event) {
      throw new BadRequestException({ error: 'Bad Request', message: 'X-GitHub-Event header is required', errors: [{ field: 'X-GitHub-Event', messages: ['required'] }] });
    }
    // The delivery's GUID names the actor of what it causes (kept only when it looks like one).
    const actor: TransitionActor = { kind: 'webhook', id: delivery && /^[\w-]{1,64}$/.test(delivery) ? delivery : 'github' };
    if (event === 'pull_request') return this.pullRequest(req.body, actor);
    if (event !== 'issues') return { accepted: false, ignored: `event ${event} is not handled` };
    const p = parse(issuesPayload, req.body);
    const wanted = p.action === 'opened' || (p.action === 'labeled' && p.label?.name === this.config.GITHUB_WEBHOOK_LABEL);
    if (!wanted) return { accepted: false, ignored: `issues.${p.action}${p.label ? ` (label ${p.label.name})` : ''} is not handled` };

    const owner = await this.tenants.findByRepository(p.repository.full_name);
    const tenantId = owner?.id ?? this.config.GITHUB_WEBHOOK_TENANT;
    const { job, created } = await this.jobs.submit(tenantId, {
      repositoryId: p.repository.full_name,
      issue: { id: String(p.issue.number), title: p.issue.title, body: p.issue.body ?? '', url: p.issue.html_url },
      idempotencyKey: `github:${p.repository.full_name}#${p.issue.number}`,
    });
    return { accepted: true, jobId: job.id, tenantId: job.tenantId, created };
  }

  /**
   * `pull_request.closed` for a job's branch: merged → MARK_COMPLETED (what AUTO_COMPLETE=false
   * waits for); closed without merging → MARK_CANCELLED (a person turned the change down; RETRY
   * is not possible from CANCELLED — submit the issue again for another try). A job already in a
   * final state, or one that does not accept the event in its state, is left alone (202,
   * `ignored` says why).
   */
  private async pullRequest(body: unknown, actor: TransitionActor): Promise<WebhookAnswer> {
    const p = parse(pullRequestPayload, body);
    if (p.action !== 'closed') return { accepted: false, ignored: `pull_request.${p.action} is not handled` };
    const job = await this.jobs.findByBranch(p.repository.full_name, p.pull_request.head.ref);
    if (!job) return { accepted: false, ignored: `no job works on ${p.repository.full_name} branch ${p.pull_request.head.ref}` };
    const merged = p.pull_request.merged === true;
    const event: JobEvent = merged ? { type: 'MARK_COMPLETED' } : { type: 'MARK_CANCELLED', reason: `pull request #${p.pull_request.number} closed without merging` };
    try {
      const after = await this.jobs.sendSystem(job.id, event, actor);
      return { accepted: true, jobId: after.id, tenantId: after.tenantId, created: false };
    } catch (e) {
      if (e instanceof IllegalEventError) {
        return { accepted: false, jobId: job.id, tenantId: job.tenantId, ignored: `pull request ${merged ? 'merged' : 'closed'}: job is ${e.state}, which does not accept ${e.eventType}` };
      }
      throw e;
    }
  }
}

/** Parses a delivery's body. @throws BadRequestException naming each field. */
function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const errors = parsed.error.issues.map((i) => ({ field: i.path.join('.'), messages: [i.message] }));
    throw new BadRequestException({ error: 'Bad Request', message: errors.map((e) => `${e.field}: ${e.messages[0]}`).join(' | '), errors });
  }
  return parsed.data;
}
