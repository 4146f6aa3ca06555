import { Module } from '@nestjs/common';
import { TenantEventFeed } from './tenant-event-feed';
import { TenantEventHub } from './tenant-event-hub';
import { TenantEventLog } from './tenant-event-log';

/**
 * Tenant events: every process feeds its commits and log lines into the tenant's Redis Stream
 * (TenantEventFeed); API processes fan them out to SSE clients (TenantEventHub, EventsController).
 */
@Module({
  providers: [TenantEventLog, TenantEventHub, TenantEventFeed],
  exports: [TenantEventLog, TenantEventHub],
})
export class EventsModule {}
