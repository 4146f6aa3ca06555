import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';

/** Header naming the caller's tenant, accepted only with ALLOW_TENANT_HEADER=true (development, tests). */
export const TENANT_HEADER = 'x-tenant-id';

/** How the request's tenant was established. */
export interface RequestTenant {
  id: string;
  /** `api-key`: `Authorization: Bearer <key>`; `header`: `X-Tenant-Id` in development mode. */
  via: 'api-key' | 'header';
}

/** A request after TenantAuthGuard (src/tenants/tenant-auth.guard.ts) resolved its tenant. */
export type TenantRequest = Request & { tenant?: RequestTenant };

/**
 * The tenant of the request, as resolved by `TenantAuthGuard` (use `@Authenticated()` on the
 * controller or route).
 * @throws Error (a 500) when the route has no guard: a programming error, never a tenant default.
 */
export const TenantId = createParamDecorator((_: unknown, ctx: ExecutionContext): string => {
  const tenant = ctx.switchToHttp().getRequest<TenantRequest>().tenant;
  if (!tenant) throw new Error('@TenantId() on a route without @Authenticated(): no tenant was resolved');
  return tenant.id;
});
