import type Redis from 'ioredis';

/**
 * Counting semaphores in Redis for running steps: one for all tenants (PIPELINE_MAX_RUNNING_STEPS)
 * and one per tenant (PIPELINE_TENANT_MAX_RUNNING_STEPS). A slot is a member of a sorted set
 * scored by its last refresh (ms); members older than `staleMs` (their worker died) are dropped
 * before counting, so a crash cannot leak a slot for longer than that. Acquire is one Lua script:
 * both limits are checked and both slots taken atomically, or neither.
 */
const ACQUIRE = `
local now = tonumber(ARGV[1])
local stale = tonumber(ARGV[2])
local member = ARGV[3]
for i = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - stale)
  local limit = tonumber(ARGV[3 + i])
  if limit > 0 and redis.call('ZSCORE', KEYS[i], member) == false and redis.call('ZCARD', KEYS[i]) >= limit then
    return 0
  end
end
for i = 1, #KEYS do
  if tonumber(ARGV[3 + i]) > 0 then redis.call('ZADD', KEYS[i], now, member) end
end
return 1
`;

export class StepSlots {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly limits: { global: number; perTenant: number },
    private readonly staleMs: number,
  ) {}

  get enabled(): boolean {
    return this.limits.global > 0 || this.limits.perTenant > 0;
  }

  private keys(tenantId: string): string[] {
    return [`${this.prefix}:step-slots`, `${this.prefix}:step-slots:${tenantId}`];
  }

  /** Takes a slot for `member` (idempotent); false when a limit is reached. */
  async acquire(tenantId: string, member: string): Promise<boolean> {
    if (!this.enabled) return true;
    const r = await this.redis.eval(ACQUIRE, 2, ...this.keys(tenantId), String(Date.now()), String(this.staleMs), member, String(this.limits.global), String(this.limits.perTenant));
    return r === 1;
  }

  /** Keeps a held slot alive (call at every heartbeat). */
  async refresh(tenantId: string, member: string): Promise<void> {
    if (!this.enabled) return;
    const now = Date.now();
    await Promise.all(this.keys(tenantId).map((k) => this.redis.zadd(k, 'XX', now, member)));
  }

  async release(tenantId: string, member: string): Promise<void> {
    if (!this.enabled) return;
    await Promise.all(this.keys(tenantId).map((k) => this.redis.zrem(k, member)));
  }
}
