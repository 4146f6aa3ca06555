/**
 * `npm run tenant:create -- <name> [--repos owner/name,owner/*] [--max-active N] [settings…] [--json]`
 *
 * Creates tenant <name> (or updates it: `--repos` replaces its repository patterns, `--max-active`
 * its active-job limit, 0 = none, `default` = TENANT_MAX_ACTIVE_JOBS) and issues a new API key
 * for it. Settings (each replaces the stored one; `default` = the service's value):
 * `--git-url-template 'file:///srv/git/{repository}.git'`, `--review-command 'npm test'`,
 * `--review-command-for owner/name='go test ./...'` (repeatable), `--budget-usd 5`,
 * `--budget-tokens 2000000`. The key is printed ONCE; only its SHA-256 is stored (collection `api_keys`, unique
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
import type { TenantSettings } from '../src/tenants/tenant.types';

const USAGE =
  'usage: npm run tenant:create -- <name> [--repos owner/name,owner/*] [--max-active N|default] [--git-url-template T|default] [--review-command C|default] [--review-command-for owner/name=C ...] [--budget-usd N|default] [--budget-tokens N|default] [--json]';

/** `default` → null, else the value. */
const orDefault = (v: string | undefined): string | null | undefined => (v === undefined ? undefined : v === 'default' ? null : v);

/** Settings from the command line. @throws Error naming a malformed flag. */
function settingsFrom(values: Record<string, string | string[] | boolean | undefined>): Partial<TenantSettings> | undefined {
  const out: Partial<TenantSettings> = {};
  const template = orDefault(values['git-url-template'] as string | undefined);
  if (template !== undefined) out.gitUrlTemplate = template;
  const command = orDefault(values['review-command'] as string | undefined);
  if (command !== undefined) out.reviewCommand = command;
  const per = values['review-command-for'] as string[] | undefined;
  if (per) {
    out.reviewCommands = per.map((entry) => {
      const eq = entry.indexOf('=');
      if (eq <= 0) throw new Error(`--review-command-for must be owner/name=command, not ${JSON.stringify(entry)}`);
      return { repository: entry.slice(0, eq).trim(), command: entry.slice(eq + 1) };
    });
  }
  for (const [flag, key] of [['budget-usd', 'budgetUsd'], ['budget-tokens', 'budgetTokens']] as const) {
    const v = orDefault(values[flag] as string | undefined);
    if (v === undefined) continue;
    if (v !== null && !/^\d+(\.\d+)?$/.test(v)) throw new Error(`--${flag} must be a number >= 0 or "default", not ${JSON.stringify(v)}`);
    out[key] = v === null ? null : Number(v);
  }
  return Object.keys(out).length ? out : undefined;
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        repos: { type: 'string' },
        'max-active': { type: 'string' },
        'git-url-template': { type: 'string' },
        'review-command': { type: 'string' },
        'review-command-for': { type: 'string', multiple: true },
        'budget-usd': { type: 'string' },
        'budget-tokens': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
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
  let settings: Partial<TenantSettings> | undefined;
  try {
    settings = settingsFrom(values);
  } catch (e) {
    console.error((e as Error).message);
    return 1;
  }

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
      ...(settings ? { settings } : {}),
    });
    const t = issued.tenant;
    if (values.json) {
      console.log(JSON.stringify({ tenantId: t.id, created: issued.created, apiKey: issued.apiKey, keyId: issued.keyId, repositories: t.repositories, maxActiveJobs: t.maxActiveJobs, settings: t.settings }));
    } else {
      const limit = t.maxActiveJobs === null ? 'TENANT_MAX_ACTIVE_JOBS' : t.maxActiveJobs === 0 ? 'no limit' : String(t.maxActiveJobs);
      console.log(`tenant ${t.id} ${issued.created ? 'created' : 'updated'} in ${env.data.MONGODB_DB}: repositories ${t.repositories.join(', ') || '(none)'}; max active jobs: ${limit}`);
      const own = Object.entries(t.settings).filter(([, v]) => v !== null && !(Array.isArray(v) && v.length === 0));
      if (own.length) console.log(`settings: ${own.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}`);
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
