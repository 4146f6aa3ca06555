import type { CommandStartedEvent } from 'mongodb';
import { CachedTenantRepository } from '../../src/tenants/cached-tenant.repository';
import { MongoTenantRepository } from '../../src/tenants/mongo-tenant.repository';
import { useTestDatabase } from '../support/test-db';

/**
 * The tenant reads the app makes per submission (budget settings) and per admission (active-job
 * limit) go through CachedTenantRepository: counted here as the `find` commands the real
 * MongoDB-wire server receives.
 */
describe('CachedTenantRepository (real MongoDB-wire server)', () => {
  const t = useTestDatabase('tenantcache', (db) => new MongoTenantRepository(db), { monitorCommands: true });
  let store: MongoTenantRepository;
  let finds: string[] = [];

  beforeAll(() => {
    store = t.repo;
    t.client.on('commandStarted', (e: CommandStartedEvent) => {
      if (e.commandName === 'find' && e.command.find === 'tenants') finds.push(JSON.stringify(e.command.filter));
    });
  });
  beforeEach(() => {
    finds = [];
  });

  it('reads a tenant once per TTL, the same for a tenant without a record', async () => {
    await store.upsert('acme', { settings: { budgetUsd: 2 } });
    const cached = new CachedTenantRepository(store, 60_000);
    finds = [];
    for (let i = 0; i < 5; i++) expect((await cached.findById('acme'))?.settings.budgetUsd).toBe(2);
    for (let i = 0; i < 5; i++) expect(await cached.findById('nobody')).toBeNull();
    expect(finds).toHaveLength(2);
  });

  it('an upsert through it applies at once; one made elsewhere applies after the TTL', async () => {
    const cached = new CachedTenantRepository(store, 300);
    await cached.upsert('globex', { settings: { budgetUsd: 1 } });
    expect((await cached.findById('globex'))?.settings.budgetUsd).toBe(1);
    await cached.upsert('globex', { settings: { budgetUsd: 3 } });
    expect((await cached.findById('globex'))?.settings.budgetUsd).toBe(3);

    await store.upsert('globex', { settings: { budgetUsd: 4 } }); // another process (npm run tenant)
    expect((await cached.findById('globex'))?.settings.budgetUsd).toBe(3);
    await new Promise((r) => setTimeout(r, 350));
    expect((await cached.findById('globex'))?.settings.budgetUsd).toBe(4);
  });

  it('TENANT_CACHE_MS=0 reads every time; API-key lookups are never cached', async () => {
    const uncached = new CachedTenantRepository(store, 0);
    await uncached.findById('acme');
    await uncached.findById('acme');
    expect(finds).toHaveLength(2);

    const cached = new CachedTenantRepository(store, 60_000);
    await cached.addApiKey({ id: 'k1', tenantId: 'acme', hash: 'h1', hint: 'aicd_…h1', createdAt: new Date() });
    finds = [];
    expect((await cached.findByApiKeyHash('h1'))?.id).toBe('acme');
    expect((await cached.findByApiKeyHash('h1'))?.id).toBe('acme');
    expect(finds).toHaveLength(2); // the key's tenant, read each time: revocation is immediate
  });
});
