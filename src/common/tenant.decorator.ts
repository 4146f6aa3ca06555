import { BadRequestException, createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';

/** Header that names the caller's tenant (until API keys, see issue on authentication). */
export const TENANT_HEADER = 'x-tenant-id';
const TENANT_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * The tenant of the request, from `X-Tenant-Id`.
 * @throws BadRequestException (400, field `X-Tenant-Id`) when missing or malformed.
 */
export const TenantId = createParamDecorator((_: unknown, ctx: ExecutionContext): string => {
  const req = ctx.switchToHttp().getRequest<Request>();
  const value = req.headers[TENANT_HEADER];
  if (typeof value !== 'string' || !TENANT_PATTERN.test(value)) {
    throw new BadRequestException({
      statusCode: 400,
      error: 'Bad Request',
      message: 'X-Tenant-Id header is required: 1-64 characters of A-Z a-z 0-9 _ . -',
      errors: [{ field: 'X-Tenant-Id', messages: ['must match ^[A-Za-z0-9_.-]{1,64}$'] }],
    });
  }
  return value;
});
