/**
 * The MongoDB-wire providers in the order they are tried (SERVICES_PROVIDER forces one):
 *   1. uri            MONGODB_URI, when set
 *   2. testcontainers MongoDB + Redis containers, when a container runtime answers
 *   3. memory-server  mongodb-memory-server, when its mongod can be had (system binary, cache, download)
 *   4. documentdb     FerretDB v2 + DocumentDB from ../shared/docdb (DOCDB_DIR)
 *   5. ferretdb-v1    FerretDB v1.24.2 (SQLite), built with Go: the zero-setup fallback
 */
import { PROVIDER_NAMES, type ProviderName } from '../state';
import { log, ServicesError } from '../util';
import { documentdbProvider } from './documentdb';
import { ferretdbV1Provider } from './ferretdb-v1';
import { memoryServerProvider } from './memory-server';
import { testcontainersProvider } from './testcontainers';
import type { MongoProvider } from './types';
import { uriProvider } from './uri';

export type { MongoProvider, Started } from './types';

export const PROVIDERS: readonly MongoProvider[] = [uriProvider, testcontainersProvider, memoryServerProvider, documentdbProvider, ferretdbV1Provider];

/** The provider of that name. */
export function provider(name: ProviderName): MongoProvider {
  return PROVIDERS.find((p) => p.name === name)!;
}

/** A provider name, checked. @throws ServicesError naming the valid values. */
export function providerName(v: string, what: string): ProviderName {
  if (!PROVIDER_NAMES.includes(v as ProviderName)) throw new ServicesError(`${what}=${v} is not one of ${PROVIDER_NAMES.join(', ')}`);
  return v as ProviderName;
}

/** SERVICES_PROVIDER, checked. @throws ServicesError naming the valid values. */
export function forcedProvider(): ProviderName | undefined {
  const v = process.env.SERVICES_PROVIDER?.trim();
  return v ? providerName(v, 'SERVICES_PROVIDER') : undefined;
}

/**
 * The provider to use: SERVICES_PROVIDER's, which must be available, else the first available in
 * order (each one passed over is logged with the reason); `demoted` ones are tried last.
 * @throws ServicesError with the reason of each when none (or not the forced one) can run.
 */
export async function chooseProvider(demoted: readonly ProviderName[] = []): Promise<MongoProvider> {
  const forced = forcedProvider();
  if (forced) {
    const p = provider(forced);
    const a = await p.available();
    if (!a.ok) throw new ServicesError(`SERVICES_PROVIDER=${forced}: ${p.title} cannot run here: ${a.reason}`);
    log(`SERVICES_PROVIDER=${forced}: ${p.title} (${a.detail})`);
    return p;
  }
  const reasons: string[] = [];
  const order = [...PROVIDERS.filter((p) => !demoted.includes(p.name)), ...PROVIDERS.filter((p) => demoted.includes(p.name))];
  if (demoted.length) log(`tried last for this command: ${demoted.join(', ')} (SERVICES_PROVIDER=${demoted[0]} forces it)`);
  for (const p of order) {
    const a = await p.available();
    if (a.ok) {
      log(`MongoDB-wire server: ${p.title} [${p.name}] (${a.detail})`);
      return p;
    }
    reasons.push(`  ${p.name}: ${a.reason}`);
    if (p.name !== 'uri') log(`${p.name}: skipped — ${a.reason}`);
  }
  throw new ServicesError(
    `No MongoDB-wire server available:\n${reasons.join('\n')}\n` +
      '  Fix: install Go (https://go.dev/dl) so FerretDB v1 can be built, or set MONGODB_URI.',
  );
}
