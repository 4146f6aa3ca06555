import { BadRequestException, Controller, Get, Headers, Inject, Param, Query, Res } from '@nestjs/common';
import { ApiHeader, ApiOkResponse, ApiOperation, ApiProduces, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { ApiErrors, ApiStoreErrors } from '../common/api-errors';
import { IsOptional, IsString, IsUUID, Matches, MaxLength } from 'class-validator';
import type { Response } from 'express';
import { formatSse, SseStream } from '../common/sse';
import { TenantId } from '../common/tenant.decorator';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { DependencyUnavailableError } from '../jobs/job.errors';
import { Authenticated } from '../tenants/tenant-auth.guard';
import { compareStreamIds, isStreamId, type StoredTenantEvent, type TenantEvent } from './tenant-event';
import { TenantEventHub } from './tenant-event-hub';
import { READ_BATCH, TenantEventLog } from './tenant-event-log';
import { RunsService } from '../runs/runs.service';

const KINDS = ['job', 'log', 'run'] as const;
/** Live events held while the backlog is sent; past this they are dropped and re-read from Redis. */
const HELD_MAX = 2 * READ_BATCH;

export class EventsQueryDto {
  @ApiPropertyOptional({ description: 'Resume after this event id (as Last-Event-ID; the header wins).', example: '1764633600000-0' })
  @IsOptional()
  @Matches(/^\d{1,16}-\d{1,16}$/, { message: 'after must be an event id (<ms>-<seq>)' })
  after?: string;

  @ApiPropertyOptional({ description: 'Only this job\'s events.' })
  @IsOptional()
  @IsUUID('4', { message: 'jobId must be a job id (UUID v4)' })
  jobId?: string;

  @ApiPropertyOptional({ description: 'Only this pipeline run\'s events.' })
  @IsOptional()
  @Matches(/^run_[0-9a-f-]{36}$/, { message: 'runId must be a run id (run_<uuid>)' })
  runId?: string;

  @ApiPropertyOptional({ description: 'Comma-separated kinds to receive (default all): job, log, run.', example: 'job' })
  @IsOptional()
  @IsString()
  @MaxLength(50)
  @Matches(/^(job|log|run)(,(job|log|run))*$/, { message: 'kinds must be a comma-separated list of job, log, run' })
  kinds?: string;
}

export class RunStreamQueryDto {
  @ApiPropertyOptional({ description: 'Resume after this event id (as Last-Event-ID; the header wins).', example: '1764633600000-0' })
  @IsOptional()
  @Matches(/^\d{1,16}-\d{1,16}$/, { message: 'after must be an event id (<ms>-<seq>)' })
  after?: string;
}

/**
 * The tenant's live events over Server-Sent Events (WHATWG HTML, "Server-sent events"): job
 * transitions and log lines, fed from the commits through the tenant's Redis Stream. A client
 * that falls behind by SSE_CLIENT_MAX_BUFFER_BYTES is disconnected and resumes with Last-Event-ID.
 */
@ApiTags('events')
@Authenticated()
@Controller()
export class EventsController {
  constructor(
    private readonly log: TenantEventLog,
    private readonly hub: TenantEventHub,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly runs: RunsService,
  ) {}

  @Get('runs/:id/stream')
  @ApiTags('runs')
  @ApiOperation({ summary: 'Live events of one pipeline run (SSE): `event: run` ({ kind, runId, status, version, events, progress }) on every change; as GET /events/stream?kinds=run&runId=…' })
  @ApiProduces('text/event-stream')
  @ApiHeader({ name: 'Last-Event-ID', required: false, description: 'Resume after this event id.' })
  @ApiOkResponse({ description: 'text/event-stream; every event carrying its id.' })
  @ApiErrors({ 400: 'A malformed Last-Event-ID or after; `errors` names it.', 404: true })
  @ApiStoreErrors()
  async runStream(
    @TenantId() tenantId: string,
    @Param('id') id: string,
    @Query() q: RunStreamQueryDto,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() res: Response,
  ): Promise<void> {
    await this.runs.get(tenantId, /^run_[0-9a-f-]{36}$/.test(id) ? id : 'run_unknown'); // 404 for an unknown or another tenant's run
    return this.stream(tenantId, { ...(q.after ? { after: q.after } : {}), runId: id, kinds: 'run' }, lastEventId, res);
  }

  @Get('events/stream')
  @ApiOperation({
    summary: 'Live events of the tenant (SSE): `event: job` ({ kind, jobId, state, version, transitions, … }) on every transition, `event: log` ({ kind, jobId, line }) per log line, `event: run` ({ kind, runId, status, version, events, progress }) on every pipeline run change; `event: resync` when events since Last-Event-ID were trimmed (reload, then continue).',
  })
  @ApiProduces('text/event-stream')
  @ApiHeader({ name: 'Last-Event-ID', required: false, description: 'Resume after this event id (sent by EventSource on reconnect).' })
  @ApiOkResponse({ description: 'text/event-stream; every event carrying its id.' })
  @ApiErrors({ 400: 'A malformed Last-Event-ID, after, jobId or kinds; `errors` names it.' })
  @ApiStoreErrors()
  async stream(
    @TenantId() tenantId: string,
    @Query() q: EventsQueryDto,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() res: Response,
  ): Promise<void> {
    if (lastEventId !== undefined && !isStreamId(lastEventId)) {
      throw new BadRequestException({
        statusCode: 400,
        error: 'Bad Request',
        message: 'Last-Event-ID must be an event id (<ms>-<seq>) this stream sent',
        errors: [{ field: 'Last-Event-ID', messages: ['must match ^\\d+-\\d+$'] }],
      });
    }
    const after = lastEventId ?? q.after;
    const kinds = new Set(q.kinds ? q.kinds.split(',') : KINDS);
    const wanted = (e: TenantEvent) =>
      kinds.has(e.kind) && (!q.jobId || ('jobId' in e && e.jobId === q.jobId)) && (!q.runId || ('runId' in e && e.runId === q.runId));
    // Clients that differ only by kinds share each live batch's wire text (see batchText).
    const shareKey = q.jobId || q.runId ? undefined : [...kinds].sort().join(',');

    // Subscribe before reading the backlog, holding live events until it is sent: an event is
    // either in the backlog or arrives live, and one that is both is sent once (by id).
    let live = false;
    let held: StoredTenantEvent[] = [];
    /** Set when live events came faster than the backlog went out: they are re-read from Redis. */
    let overflowed = false;
    let sent = after ?? '0-0';
    let stream: SseStream | undefined;
    const send = (batch: StoredTenantEvent[]) => {
      if (batch.length === 0) return;
      if (shareKey !== undefined && compareStreamIds(batch[0].id, sent) > 0) {
        // All of it is new (a batch is in stream order): the text every such client gets.
        sent = batch[batch.length - 1].id;
        stream!.sendFormatted(batchText(batch, shareKey, wanted));
        return;
      }
      let out = '';
      for (const stored of batch) {
        if (compareStreamIds(stored.id, sent) <= 0) continue;
        sent = stored.id;
        if (wanted(stored.event)) out += wireFormat(stored);
      }
      stream!.sendFormatted(out);
    };
    let unsubscribe: () => void;
    try {
      unsubscribe = await this.hub.subscribe(tenantId, (batch) => {
        if (live) return send(batch);
        held.push(...batch);
        if (held.length > HELD_MAX) {
          // Every event is in the tenant's stream: drop what is held and read it again from there.
          held = [];
          overflowed = true;
        }
      });
    } catch (e) {
      throw new DependencyUnavailableError('redis', e);
    }
    stream = new SseStream(res, { maxBufferedBytes: this.config.SSE_CLIENT_MAX_BUFFER_BYTES, keepAliveMs: 15_000 });
    stream.onClose(unsubscribe);
    try {
      if (after) {
        const oldest = await this.log.oldestId(tenantId);
        if (oldest && compareStreamIds(after, oldest) < 0) {
          // Entries after `after` may have been trimmed: the client must reload what it shows.
          stream.send({ event: 'resync', data: { reason: 'events after Last-Event-ID were trimmed', oldest } });
        }
      }
      // The backlog (after `after`), then whatever overflowed the held events meanwhile.
      let reread = Boolean(after);
      while (reread && !stream.isClosed) {
        overflowed = false;
        for (;;) {
          const batch = await this.log.after(tenantId, sent, READ_BATCH);
          send(batch);
          if (batch.length < READ_BATCH || stream.isClosed) break;
          await stream.drained(); // the backlog goes at the client's pace
        }
        reread = overflowed;
      }
      live = true;
      send(held.splice(0));
    } catch {
      stream.close();
    }
  }
}

/**
 * A live batch's wire text per kinds filter, computed once for all the process's clients of the
 * tenant with that filter (the hub hands every subscriber the same batch array): with 100
 * dashboards, one string per batch instead of 100 (BENCHMARKS.md, "SSE fan-out").
 */
const batchTexts = new WeakMap<StoredTenantEvent[], Map<string, Buffer>>();

/**
 * As UTF-8 bytes: encoded once, not once per client (the fan-out's cost is mostly bytes into
 * sockets; a profile showed the per-client string encoding beside the socket writes).
 */
function batchText(batch: StoredTenantEvent[], key: string, wanted: (e: TenantEvent) => boolean): Buffer {
  let byKey = batchTexts.get(batch);
  if (!byKey) batchTexts.set(batch, (byKey = new Map()));
  let bytes = byKey.get(key);
  if (bytes === undefined) {
    let text = '';
    for (const stored of batch) if (wanted(stored.event)) text += wireFormat(stored);
    bytes = Buffer.from(text, 'utf8');
    byKey.set(key, bytes);
  }
  return bytes;
}

/**
 * The wire format of each stored event, computed once however many clients it goes to (a batch's
 * events are the same objects for every subscriber of the tenant; see TenantEventHub).
 */
const formatted = new WeakMap<StoredTenantEvent, string>();

/** A job event as one SSE event (its stored JSON as data), a batch of log lines as one per line (the id on the last). */
function wireFormat(stored: StoredTenantEvent): string {
  let text = formatted.get(stored);
  if (text !== undefined) return text;
  const e = stored.event;
  text =
    e.kind === 'log'
      ? e.lines.map((line, i) => formatSse({ ...(i === e.lines.length - 1 ? { id: stored.id } : {}), event: 'log', data: { kind: 'log', jobId: e.jobId, line } })).join('')
      : formatSse({ id: stored.id, event: e.kind, data: e }, stored.json);
  formatted.set(stored, text);
  return text;
}
