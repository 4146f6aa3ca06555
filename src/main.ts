// Tracing first (before Nest and the modules it instruments load); does nothing unless OTEL_EXPORTER_OTLP_ENDPOINT is set.
import './observability/tracing';
import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { createApp, preflight, PreflightError } from './bootstrap';
import { validateConfig } from './config/config';
import { STAGES, type Stage } from './lifecycle/job.types';
import { StoreServerInfo } from './jobs/store-server';

/**
 * Entry point. `node dist/main.js` runs the API and every stage worker in one process;
 * `--role=api` only the API; `--role=worker [--stages=planning,coding]` only workers.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { role: { type: 'string', default: 'all' }, stages: { type: 'string' } },
    allowPositionals: false,
  });
  const role = values.role ?? 'all';
  if (!['all', 'api', 'worker'].includes(role)) throw new PreflightError(`--role must be all, api or worker, not ${role}`);
  const stages = (values.stages ? values.stages.split(',').map((s) => s.trim()) : role === 'api' ? [] : [...STAGES]) as Stage[];
  const unknown = stages.filter((s) => !STAGES.includes(s));
  if (unknown.length) throw new PreflightError(`unknown stage(s) ${unknown.join(', ')}; stages are ${STAGES.join(', ')}`);

  let config;
  try {
    config = validateConfig(process.env);
  } catch (e) {
    throw new PreflightError((e as Error).message);
  }
  await preflight(config);
  const api = role !== 'worker';
  const app = await createApp({ api, stages: role === 'api' ? [] : stages });
  if (api) {
    await app.listen(config.PORT, '0.0.0.0');
    console.log(`aicd-orchestrator listening on http://127.0.0.1:${config.PORT} (OpenAPI at /docs); workers: ${stages.join(', ') || 'none'}; store: ${app.get(StoreServerInfo).describe()}`);
  } else {
    await app.init();
    app.flushLogs(); // logs are buffered until flushed; only listen() flushes them by itself
    console.log(`aicd-orchestrator worker running stages: ${stages.join(', ')}; store: ${app.get(StoreServerInfo).describe()}`);
  }
}

main().catch((e: unknown) => {
  if (e instanceof PreflightError) {
    console.error(`aicd-orchestrator: ${e.message}`);
  } else {
    console.error(e);
  }
  process.exit(1);
});
