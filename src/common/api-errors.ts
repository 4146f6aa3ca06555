import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiProperty, ApiPropertyOptional, ApiResponse, getSchemaPath } from '@nestjs/swagger';

/** One invalid input: the field (body path, query parameter or header) and what is wrong with it. */
export class FieldErrorDto {
  @ApiProperty({ example: 'issue.title', description: 'Body path (dots), query parameter or header name.' }) field!: string;
  @ApiProperty({ type: [String], example: ['issue.title must be a string'] }) messages!: string[];
}

/**
 * The body of every error answer (DomainExceptionFilter, the validation pipe, the auth guards):
 * `{ statusCode, error, code?, message, errors? }`, plus `state`, `event` and `acceptedEvents` on
 * a 409 ILLEGAL_EVENT and `dependency` on a 503.
 */
export class ErrorBodyDto {
  @ApiProperty({ example: 409 }) statusCode!: number;
  @ApiProperty({ example: 'Conflict', description: 'The HTTP reason phrase.' }) error!: string;
  @ApiPropertyOptional({ example: 'ILLEGAL_EVENT', description: 'Machine-readable reason (e.g. JOB_NOT_FOUND, ILLEGAL_EVENT, INVALID_API_KEY, DEPENDENCY_UNAVAILABLE).' })
  code?: string;
  @ApiProperty({ oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }], description: 'What went wrong, in words.' })
  message!: string | string[];
  @ApiPropertyOptional({ type: [FieldErrorDto], description: 'Invalid inputs, by field (400, 401, 415).' }) errors?: FieldErrorDto[];
  @ApiPropertyOptional({ description: '409 ILLEGAL_EVENT: the state the job is in.', example: 'COMPLETED' }) state?: string;
  @ApiPropertyOptional({ description: '409 ILLEGAL_EVENT: the event refused.', example: 'RETRY' }) event?: string;
  @ApiPropertyOptional({ type: [String], description: '409 ILLEGAL_EVENT: the events the state accepts.', example: [] }) acceptedEvents?: string[];
  @ApiPropertyOptional({ enum: ['redis', 'mongodb'], description: '503: the dependency that did not answer.' }) dependency?: string;
}

/** Error statuses a route may document with {@link ApiErrors}. */
export type ErrorStatus = 400 | 401 | 404 | 409 | 413 | 415 | 500 | 503;

/** The usual words for each status; a route passes its own to say what causes it there. */
const DEFAULT_DESCRIPTION: Record<ErrorStatus, string> = {
  400: 'Invalid input; `errors` names each field.',
  401: 'Missing or invalid credentials ({ code: AUTH_REQUIRED | INVALID_API_KEY }); `errors` names the Authorization header.',
  404: 'No such resource for this tenant (another tenant\'s is a 404 too).',
  409: 'The resource is not in a state that allows this.',
  413: 'The body is larger than BODY_LIMIT_BYTES ({ code: entity.too.large }).',
  415: 'The body is not JSON ({ code: UNSUPPORTED_MEDIA_TYPE }); `errors` names Content-Type.',
  500: 'An unexpected error (logged; the body says no more).',
  503: 'MongoDB or Redis did not answer ({ code: DEPENDENCY_UNAVAILABLE, dependency }); retry later.',
};

/**
 * Documents error answers of a route or controller in OpenAPI, each with the {@link ErrorBodyDto}
 * schema: pass `true` for the usual words, or a string saying what causes it on this route.
 */
export function ApiErrors(errors: Partial<Record<ErrorStatus, string | true>>): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ApiExtraModels(ErrorBodyDto, FieldErrorDto),
    ...Object.entries(errors).map(([status, text]) =>
      ApiResponse({
        status: Number(status),
        description: text === true ? DEFAULT_DESCRIPTION[Number(status) as ErrorStatus] : text,
        // Always JSON, whatever the route produces when it succeeds (text, SSE, a file).
        content: { 'application/json': { schema: { $ref: getSchemaPath(ErrorBodyDto) } } },
      }),
    ),
  );
}

/** What every route backed by MongoDB or Redis can answer besides its own errors: 500 and 503. */
export function ApiStoreErrors(): MethodDecorator & ClassDecorator {
  return ApiErrors({ 500: true, 503: true });
}
