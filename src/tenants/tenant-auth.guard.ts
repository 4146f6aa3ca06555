import { applyDecorators, BadRequestException, CanActivate, ExecutionContext, Inject, Injectable, UnauthorizedException, UseGuards } from '@nestjs/common';
import { ApiBearerAuth } from '@nestjs/swagger';
import { ApiErrors } from '../common/api-errors';
import type { Response } from 'express';
import { TENANT_HEADER, type TenantRequest } from '../common/tenant.decorator';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { API_KEY_PATTERN, hashApiKey } from './api-key';
import { TenantRepository } from './tenant.repository';
import { TENANT_ID_PATTERN } from './tenant.types';

const BEARER = /^Bearer +(\S+) *$/i;

function unauthorized(res: Response, code: string, message: string): UnauthorizedException {
  res.setHeader('WWW-Authenticate', 'Bearer realm="aicd-orchestrator"');
  return new UnauthorizedException({
    statusCode: 401,
    error: 'Unauthorized',
    code,
    message,
    errors: [{ field: 'Authorization', messages: ['send Authorization: Bearer <api key> (npm run tenant:create prints one)'] }],
  });
}

/**
 * Resolves the caller's tenant and puts it on the request (read with `@TenantId()`):
 * - `Authorization: Bearer <api key>`: the key's SHA-256 is looked up (unique index); an unknown,
 *   revoked or malformed key is a 401 `INVALID_API_KEY`. The key decides; `X-Tenant-Id` is ignored.
 * - no Authorization header and ALLOW_TENANT_HEADER=true (development, tests): `X-Tenant-Id`
 *   names the tenant (400 when missing or malformed);
 * - otherwise 401 `AUTH_REQUIRED`, naming the Authorization header.
 * Neither the key nor its hash is logged or echoed.
 */
@Injectable()
export class TenantAuthGuard implements CanActivate {
  constructor(
    private readonly tenants: TenantRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const req = ctx.switchToHttp().getRequest<TenantRequest>();
    const res = ctx.switchToHttp().getResponse<Response>();
    const authorization = req.headers.authorization;
    if (authorization !== undefined) {
      const key = BEARER.exec(authorization)?.[1];
      if (!key || !API_KEY_PATTERN.test(key)) {
        throw unauthorized(res, 'INVALID_API_KEY', 'Authorization must be "Bearer <api key>" with a valid API key');
      }
      const hash = hashApiKey(key);
      const tenant = await this.tenants.findByApiKeyHash(hash);
      if (!tenant) throw unauthorized(res, 'INVALID_API_KEY', 'the API key is not valid');
      req.tenant = { id: tenant.id, via: 'api-key', keyId: hash.slice(0, 8) };
      return true;
    }
    if (this.config.ALLOW_TENANT_HEADER) {
      const value = req.headers[TENANT_HEADER];
      if (typeof value !== 'string' || !TENANT_ID_PATTERN.test(value)) {
        throw new BadRequestException({
          statusCode: 400,
          error: 'Bad Request',
          message: 'Authorization: Bearer <api key>, or (ALLOW_TENANT_HEADER=true) an X-Tenant-Id header of 1-64 characters of A-Z a-z 0-9 _ . - is required',
          errors: [{ field: 'X-Tenant-Id', messages: ['must match ^[A-Za-z0-9_.-]{1,64}$'] }],
        });
      }
      req.tenant = { id: value, via: 'header' };
      return true;
    }
    const hint = req.headers[TENANT_HEADER] !== undefined ? ' (X-Tenant-Id is accepted only when ALLOW_TENANT_HEADER=true)' : '';
    throw unauthorized(res, 'AUTH_REQUIRED', `the Authorization header is required: Authorization: Bearer <api key>${hint}`);
  }
}

/** Route or controller needs a tenant: TenantAuthGuard + bearer auth and 401 in the OpenAPI description. */
export function Authenticated(): ClassDecorator & MethodDecorator {
  return applyDecorators(
    UseGuards(TenantAuthGuard),
    ApiBearerAuth(),
    ApiErrors({
      401: 'Missing or invalid `Authorization: Bearer <api key>` ({ code: AUTH_REQUIRED | INVALID_API_KEY }); `errors` names Authorization.',
      400: 'Only with ALLOW_TENANT_HEADER=true (development): a missing or malformed X-Tenant-Id; `errors` names it.',
    }),
  );
}
