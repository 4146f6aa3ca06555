import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import type { TransitionActor } from '../lifecycle/job.types';

/** Header naming the caller's tenant, accepted only with ALLOW_TENANT_HEADER=true (development, tests). */
export const TENANT_HEADER = 'x-tenant-id';

/** How the request's tenant was established. */
export interface RequestTenant {
  id: string;
  /** `api-key`: `Authorization: Bearer <key>`; `header`: `X-Tenant-Id` in development mode. */
  via: 'api-key' | 'header';
  /** For `api-key`: the first 8 hex digits of the key's SHA-256 (which key, never the key). */
  keyId?: string;
}

/** A request after TenantAuthGuard (src/tenants/tenant-auth.guard.ts) resolved its tenant. */
export type TenantRequest = Request & { tenant?: RequestTenant };

/**
 * The tenant of the request, as resolved by `TenantAuthGuard` (use `@Authenticated()` on the
 * controller or route).
 * @throws Error (a 500) when the route has no guard: a programming error, never a tenant default.
 */
/**
 * Who the request acts as, for the audit trail of the transitions it causes: `{ kind: 'api', id:
 * 'key:<8 hex>' }` (or `id: 'header'`). @throws Error as {@link TenantId}.
 */
export const RequestActor = createParamDecorator((_: unknown, ctx: ExecutionContext): TransitionActor => {
  const tenant = ctx.switchToHttp().getRequest<TenantRequest>().tenant;
  if (!tenant) throw new Error('@RequestActor() on a route without @Authenticated(): no tenant was resolved');
  return { kind: 'api', id: tenant.keyId ? `key:${tenant.keyId}` : tenant.via };
});

export const TenantId = createParamDecorator((_: unknown, ctx: ExecutionContext): string => {
  const tenant = ctx.switchToHttp().getRequest<TenantRequest>().tenant;
  if (!tenant) throw new Error('@TenantId() on a route without @Authenticated(): no tenant was resolved');
  return tenant.id;
});
