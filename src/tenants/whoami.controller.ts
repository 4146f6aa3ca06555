import { Controller, Get, Req } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import type { TenantRequest } from '../common/tenant.decorator';
import { ApiStoreErrors } from '../common/api-errors';
import { Authenticated } from './tenant-auth.guard';

export class WhoamiDto {
  @ApiProperty({ description: 'The tenant the credentials stand for.' }) tenantId!: string;
  @ApiProperty({ enum: ['api-key', 'header'], description: '`api-key`: a Bearer API key; `header`: X-Tenant-Id (ALLOW_TENANT_HEADER=true, development).' })
  via!: 'api-key' | 'header';
}

/** Who the caller is: the dashboard's sign-in checks a key with it (401 for a wrong key). */
@ApiTags('tenants')
@Authenticated()
@ApiStoreErrors()
@Controller('whoami')
export class WhoamiController {
  @Get()
  @ApiOperation({ summary: 'The tenant of the API key (checks a key without touching any job).' })
  @ApiOkResponse({ type: WhoamiDto })
  whoami(@Req() req: TenantRequest): WhoamiDto {
    // TenantAuthGuard (via @Authenticated) has set req.tenant, or answered 401/400.
    const tenant = req.tenant!;
    return { tenantId: tenant.id, via: tenant.via };
  }
}
