import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { MongoNetworkError, MongoNotConnectedError, MongoServerSelectionError, MongoTopologyClosedError } from 'mongodb';
import { ArtifactCorruptError, ArtifactNotFoundError } from '../artifacts/artifact.store';
import { IllegalEventError } from '../lifecycle/job.runtime';
import { UnknownMachineVersionError } from '../lifecycle/snapshot-migrations';
import { ConcurrentUpdateError, DependencyUnavailableError, JobNotFoundError } from '../jobs/job.errors';
import { InvalidCursorError } from '../jobs/job.repository';
import { InvalidLogCursorError } from '../logs/job-logs.service';
import { InvalidTemplateError } from '../pipelines/template.schema';
import { EventNotAcceptedError } from '../runtime/persisted-actor';
import { InvalidRunCursorError } from '../runs/mongo-run.repository';
import { PipelineNotFoundError, RunBusyError, TemplateQuarantinedError } from '../runs/run.errors';

/**
 * Maps domain errors to HTTP: JobNotFoundError, ArtifactNotFoundError → 404; ArtifactCorruptError → 500; IllegalEventError → 409 with `state` and
 * `acceptedEvents`; ConcurrentUpdateError, UnknownMachineVersionError → 409; InvalidCursorError
 * → 400 (field `cursor`), InvalidLogCursorError → 400 (field `after`); DependencyUnavailableError and MongoDB connection errors → 503.
 * Body: `{ statusCode, error, code, message, ... }`.
 */
@Catch()
export class DomainExceptionFilter implements ExceptionFilter {
  private readonly log = new Logger(DomainExceptionFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    const [status, body] = this.map(exception);
    if (status >= 500 && status !== 503) this.log.error(exception instanceof Error ? exception.stack : String(exception));
    res.status(status).json({ statusCode: status, ...body });
  }

  private map(e: unknown): [number, Record<string, unknown>] {
    if (e instanceof HttpException) {
      const r = e.getResponse();
      return [e.getStatus(), typeof r === 'string' ? { message: r } : (r as Record<string, unknown>)];
    }
    if (e instanceof JobNotFoundError || e instanceof ArtifactNotFoundError) return [404, { error: 'Not Found', code: e.code, message: e.message }];
    if (e instanceof PipelineNotFoundError) return [404, { error: 'Not Found', code: e.code, message: e.message }];
    if (e instanceof EventNotAcceptedError || e instanceof IllegalEventError) {
      // A pipeline run's machine (the generic runtime) or the job machine refused the event.
      return [409, { error: 'Conflict', code: e.code, message: e.message, state: e.state, event: e.eventType, acceptedEvents: e.accepted }];
    }
    if (e instanceof TemplateQuarantinedError || e instanceof RunBusyError) return [409, { error: 'Conflict', code: e.code, message: e.message }];
    if (e instanceof InvalidTemplateError) {
      return [400, { error: 'Bad Request', code: e.code, message: e.message, errors: e.problems.map((p) => ({ field: p.path || '(root)', messages: [p.message] })) }];
    }
    if (e instanceof InvalidRunCursorError) {
      return [400, { error: 'Bad Request', code: e.code, message: e.message, errors: [{ field: 'cursor', messages: [e.message] }] }];
    }
    if (e instanceof ArtifactCorruptError) {
      this.log.error(e.message);
      return [500, { error: 'Internal Server Error', code: e.code, message: e.message }];
    }
    if (e instanceof ConcurrentUpdateError || e instanceof UnknownMachineVersionError) {
      return [409, { error: 'Conflict', code: e.code, message: e.message }];
    }
    if (e instanceof InvalidCursorError) {
      return [400, { error: 'Bad Request', code: e.code, message: e.message, errors: [{ field: 'cursor', messages: [e.message] }] }];
    }
    if (e instanceof InvalidLogCursorError) {
      return [400, { error: 'Bad Request', code: e.code, message: e.message, errors: [{ field: 'after', messages: [e.message] }] }];
    }
    if (e instanceof DependencyUnavailableError) {
      return [503, { error: 'Service Unavailable', code: e.code, dependency: e.dependency, message: e.message }];
    }
    if (
      e instanceof MongoServerSelectionError ||
      e instanceof MongoNetworkError ||
      e instanceof MongoNotConnectedError ||
      e instanceof MongoTopologyClosedError
    ) {
      return [503, { error: 'Service Unavailable', code: 'DEPENDENCY_UNAVAILABLE', dependency: 'mongodb', message: e.message }];
    }
    const err = e as { type?: string; status?: number; message?: string };
    // body-parser errors (entity.too.large → 413, entity.parse.failed → 400) carry their status.
    if (typeof err?.status === 'number' && err.status >= 400 && err.status < 500) {
      return [err.status, { error: HttpStatus[err.status] ?? 'Bad Request', code: err.type ?? 'BAD_REQUEST', message: err.message }];
    }
    return [500, { error: 'Internal Server Error', message: 'internal error' }];
  }
}
