import { applyDecorators, CanActivate, ExecutionContext, HttpException, Injectable, UseGuards } from '@nestjs/common';
import { ApiConsumes } from '@nestjs/swagger';
import type { Request } from 'express';
import { ApiErrors } from './api-errors';

/** `application/json`, or a `+json` structured syntax suffix (RFC 6839), with any parameters. */
const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/** True when the request carries a body (RFC 9112 §6.3: a Content-Length above 0 or a Transfer-Encoding). */
function hasBody(req: Request): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

/**
 * The 415 UNSUPPORTED_MEDIA_TYPE naming Content-Type unless the request's body matches `accepted`
 * (`what` says it in words, e.g. `JSON (application/json)`). A request without a body passes.
 * @throws HttpException 415.
 */
export function checkBodyType(req: Request, accepted: RegExp, what: string, allowed: string): void {
  if (!hasBody(req)) return;
  const type = req.headers['content-type'];
  if (type && accepted.test(type)) return;
  throw new HttpException(
    {
      statusCode: 415,
      error: 'Unsupported Media Type',
      code: 'UNSUPPORTED_MEDIA_TYPE',
      message: `the body must be ${what}, not ${type ? JSON.stringify(type) : 'untyped'}`,
      errors: [{ field: 'Content-Type', messages: [`must be ${allowed}`] }],
    },
    415,
  );
}

/**
 * Refuses a request body that is not JSON with 415 UNSUPPORTED_MEDIA_TYPE naming Content-Type
 * (otherwise the JSON parser skips it and the route would see an empty body and answer a
 * misleading 400). A request without a body passes.
 */
@Injectable()
export class JsonBodyGuard implements CanActivate {
  canActivate(ctx: ExecutionContext): boolean {
    checkBodyType(ctx.switchToHttp().getRequest<Request>(), JSON_TYPE, 'JSON (Content-Type: application/json)', 'application/json');
    return true;
  }
}

/** A route whose body is JSON: the 415 guard, and 413/415 and the media type in OpenAPI. */
export function JsonBody(): MethodDecorator & ClassDecorator {
  return applyDecorators(UseGuards(JsonBodyGuard), ApiConsumes('application/json'), ApiErrors({ 413: true, 415: true }));
}
