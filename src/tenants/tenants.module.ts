import { Global, Module, OnModuleInit } from '@nestjs/common';
import type { MongoClient } from 'mongodb';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { MONGO_CLIENT } from '../jobs/mongo.module';
import { ActiveJobLimit, AdmissionControl } from './admission-control';
import { CachedTenantRepository } from './cached-tenant.repository';
import { MongoTenantRepository } from './mongo-tenant.repository';
import { TenantAuthGuard } from './tenant-auth.guard';
import { TenantRepository } from './tenant.repository';

/**
 * Tenants: API-key authentication (TenantAuthGuard, `@Authenticated()`), the tenant records
 * behind webhook repository mapping, and admission under the per-tenant active-job limit.
 */
@Global()
@Module({
  providers: [
    {
      provide: MongoTenantRepository,
      inject: [MONGO_CLIENT, APP_CONFIG],
      useFactory: (client: MongoClient, config: AppConfig) => new MongoTenantRepository(client.db(config.MONGODB_DB)),
    },
    {
      provide: TenantRepository,
      inject: [MongoTenantRepository, APP_CONFIG],
      useFactory: (inner: MongoTenantRepository, config: AppConfig) => new CachedTenantRepository(inner, config.TENANT_CACHE_MS),
    },
    TenantAuthGuard,
    ActiveJobLimit,
    { provide: AdmissionControl, useExisting: ActiveJobLimit },
  ],
  exports: [TenantRepository, TenantAuthGuard, AdmissionControl],
})
export class TenantsModule implements OnModuleInit {
  constructor(private readonly repository: MongoTenantRepository) {}

  async onModuleInit(): Promise<void> {
    await this.repository.ensureIndexes();
  }
}
