/**
 * `npm run dashboard`: the service with its dashboard open, for a person to look at.
 *
 *   npm run dashboard     # = nest build && npm run build:ui && tsx scripts/services.ts run -- tsx scripts/dashboard.ts
 *
 * Starts the service (`node dist/main.js`, API + every stage worker, MockAgent slowed to
 * DASHBOARD_AGENT_DELAY_MS per call so states can be watched) on PORT (3000) or a free port, with
 * its own database and queue prefix and a random ADMIN_TOKEN; issues an API key for tenant `demo`
 * (as `npm run tenant:create` does); submits a few jobs (one sails through, one is rejected by
 * review twice, one fails in coding, one is slow enough to cancel from the page); prints the URL,
 * the key and the admin token; then runs until Ctrl-C, when it stops the service (SIGTERM, SIGKILL
 * after 20 s) and removes its database and queue keys. `--exit-after <s>` stops it by itself.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { MongoClient } from 'mongodb';
import { MongoTenantRepository } from '../src/tenants/mongo-tenant.repository';
import { issueApiKey } from '../src/tenants/tenant-admin';
import { freePort } from './lib/free-port';
import { dropRunData } from './lib/run-data';
import { ScriptAbort, ServiceProcess } from './lib/service-process';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const MONGODB_URI = process.env.MONGODB_URI ?? 'mongodb://127.0.0.1:27017';
const PREFIX = `dashboard_${randomBytes(3).toString('hex')}`;
const say = (line = '') => process.stdout.write(`${line}\n`);

/** PORT when it is free (the URL people expect), else any free port. */
async function portToUse(): Promise<number> {
  const wanted = Number(process.env.PORT ?? 3000);
  const net = await import('node:net');
  const free = await new Promise<boolean>((resolve) => {
    const srv = net.createServer().once('error', () => resolve(false));
    srv.listen(wanted, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
  return free ? wanted : freePort();
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { 'exit-after': { type: 'string' } } });
  const exitAfterS = values['exit-after'] ? Number(values['exit-after']) : 0;
  const ui = path.resolve(__dirname, '..', 'ui', 'dist', 'index.html');
  if (!fs.existsSync(ui)) throw new ScriptAbort(`${ui} is missing: run npm run build:ui (npm run dashboard does)`);

  const mongo = await MongoClient.connect(MONGODB_URI);
  const tenants = new MongoTenantRepository(mongo.db(PREFIX));
  await tenants.ensureIndexes();
  const { apiKey } = await issueApiKey(tenants, { tenantId: 'demo', repositories: [] });
  const adminToken = randomBytes(18).toString('base64url');
  const port = await portToUse();
  const logFile = path.join(os.tmpdir(), `aicd-${PREFIX}.log`);
  let service: ServiceProcess | undefined;
  const stop = async () => {
    await service?.stop(20_000, say); // the service's own SHUTDOWN_GRACE_MS is 10 s
    await mongo.close();
    await dropRunData(MONGODB_URI, REDIS_URL, PREFIX, say);
  };
  try {
    service = await ServiceProcess.boot(
      {
        ...process.env,
        PORT: String(port),
        REDIS_URL,
        MONGODB_URI,
        MONGODB_DB: PREFIX,
        QUEUE_PREFIX: PREFIX,
        ADMIN_TOKEN: adminToken,
        MOCK_AGENT_DELAY_MS: process.env.DASHBOARD_AGENT_DELAY_MS ?? '2500',
        LOG_LEVEL: 'warn',
      },
      logFile,
      30_000,
      (s) => (service = s),
      say,
      [],
      port,
    );
    const s = service;
    const submit = async (n: number, title: string, body = '') => {
      const res = await s.http('POST', '/jobs', { authorization: `Bearer ${apiKey}` }, JSON.stringify({ repositoryId: 'acme/widgets', issue: { id: String(n), title, body, url: `https://github.com/acme/widgets/issues/${n}` } }));
      if (res.status !== 201) throw new ScriptAbort(`POST /jobs → ${res.status} ${JSON.stringify(res.body)}`);
    };
    await submit(1, 'Fix the flaky widget test');
    await submit(2, 'Rename the config loader', 'mock: reject=2');
    await submit(3, 'Port the parser to the new API', 'mock: fail=coding');
    await submit(4, 'Migrate the build (slow: cancel me from its page)', 'mock: delay=600000');
    say('');
    say(`  dashboard     ${s.base}/ui/        sign in with the API key below (tenant demo)`);
    say(`  API key       ${apiKey}`);
    say(`  Bull Board    ${s.base}/admin/queues    user: anything, password: the admin token`);
    say(`  admin token   ${adminToken}`);
    say(`  metrics       ${s.base}/metrics    OpenAPI ${s.base}/docs    service log ${logFile}`);
    say('');
    say(exitAfterS ? `stopping in ${exitAfterS} s` : 'Ctrl-C stops the service and removes its data.');
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
      s.child.once('exit', () => resolve());
      if (exitAfterS) setTimeout(resolve, exitAfterS * 1000);
    });
    s.assertAlive();
    return 0;
  } catch (e) {
    if (service) service.printTail(say, 30);
    throw e;
  } finally {
    await stop();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof ScriptAbort ? `dashboard: ${e.message}` : e);
    process.exit(1);
  },
);
