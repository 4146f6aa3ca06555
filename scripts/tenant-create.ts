/**
 * `npm run tenant:create -- <name> [--repos owner/name,owner/*] [--max-active N] [--json]`
 *
 * Creates tenant <name> (or updates it: `--repos` replaces its repository patterns, `--max-active`
 * its active-job limit, 0 = none, `default` = TENANT_MAX_ACTIVE_JOBS) and issues a new API key
 * for it. The key is printed ONCE; only its SHA-256 is stored (collection `api_keys`, unique
 * index on the hash). Callers send it as `Authorization: Bearer <key>`.
 *
 * Connects to MONGODB_URI / MONGODB_DB (the service's defaults). `--json` prints one JSON line
 * `{ tenantId, created, apiKey, keyId, repositories, maxActiveJobs }` instead (for scripts).
 * Exit 1 on a bad argument, a repository pattern another tenant already lists, or no database.
 */
import { parseArgs } from 'node:util';
import { MongoClient } from 'mongodb';
import { configSchema } from '../src/config/config';
import { MongoTenantRepository } from '../src/tenants/mongo-tenant.repository';
import { issueApiKey } from '../src/tenants/tenant-admin';

const USAGE = 'usage: npm run tenant:create -- <name> [--repos owner/name,owner/*] [--max-active N|default] [--json]';

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      options: { repos: { type: 'string' }, 'max-active': { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
    });
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 1;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    console.error(USAGE);
    return 1;
  }
  let maxActiveJobs: number | null | undefined;
  const max = values['max-active'];
  if (max !== undefined) {
    if (max === 'default') maxActiveJobs = null;
    else if (/^\d+$/.test(max)) maxActiveJobs = Number(max);
    else {
      console.error(`--max-active must be a whole number >= 0 or "default", not ${JSON.stringify(max)}`);
      return 1;
    }
  }
  const repositories = values.repos?.split(',').map((r) => r.trim()).filter(Boolean);

  const env = configSchema.pick({ MONGODB_URI: true, MONGODB_DB: true }).safeParse(process.env);
  if (!env.success) {
    console.error(`invalid MONGODB_URI/MONGODB_DB: ${env.error.issues.map((i) => i.message).join('; ')}`);
    return 1;
  }
  const client = new MongoClient(env.data.MONGODB_URI, { serverSelectionTimeoutMS: 5000 });
  try {
    const repo = new MongoTenantRepository(client.db(env.data.MONGODB_DB));
    await repo.ensureIndexes();
    const issued = await issueApiKey(repo, {
      tenantId: positionals[0],
      ...(repositories !== undefined ? { repositories } : {}),
      ...(maxActiveJobs !== undefined ? { maxActiveJobs } : {}),
    });
    const t = issued.tenant;
    if (values.json) {
      console.log(JSON.stringify({ tenantId: t.id, created: issued.created, apiKey: issued.apiKey, keyId: issued.keyId, repositories: t.repositories, maxActiveJobs: t.maxActiveJobs }));
    } else {
      const limit = t.maxActiveJobs === null ? 'TENANT_MAX_ACTIVE_JOBS' : t.maxActiveJobs === 0 ? 'no limit' : String(t.maxActiveJobs);
      console.log(`tenant ${t.id} ${issued.created ? 'created' : 'updated'} in ${env.data.MONGODB_DB}: repositories ${t.repositories.join(', ') || '(none)'}; max active jobs: ${limit}`);
      console.log(`new API key ${issued.keyId} (shown once; only its SHA-256 is stored):`);
      console.log('');
      console.log(`  ${issued.apiKey}`);
      console.log('');
      console.log('use it as:  Authorization: Bearer <key>');
    }
    return 0;
  } catch (e) {
    console.error(`tenant:create: ${(e as Error).message}`);
    return 1;
  } finally {
    await client.close();
  }
}

main().then((code) => process.exit(code));
