/**
 * mongodb-memory-server (package `mongodb-memory-server-core`): a real `mongod` when one can be
 * had. The binary is found the library's own way (`DryMongoBinary.locateBinary`: MONGOMS_SYSTEM_BINARY,
 * else its download cache); without one it must be downloadable, which is checked with a HEAD of
 * the URL the library would fetch (`MongoBinaryDownloadUrl`). The server runs in a detached node
 * host (providers/host.ts) so it outlives this process for `up`.
 */
import { resolvePackage } from '../util';
import { stopPid } from '../process';
import type { MongoEntry } from '../state';
import { ServicesError } from '../util';
import { startHost } from './host';
import type { Availability, MongoProvider, Started } from './types';

const NEEDLE = 'aicd-mongodb-memory-server';
/** A download of ~70 MB may come first. */
const START_TIMEOUT_MS = 180_000;

/** The installed library, or undefined. */
function library(): string | undefined {
  return resolvePackage('mongodb-memory-server-core') ?? resolvePackage('mongodb-memory-server');
}

/** The URL the library would download `mongod` from, and whether it answers (HEAD, 5 s). */
async function downloadable(lib: string): Promise<{ url: string; ok: boolean; why?: string }> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { DryMongoBinary } = require(lib) as typeof import('mongodb-memory-server-core');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { MongoBinaryDownloadUrl } = require(require.resolve('mongodb-memory-server-core/lib/util/MongoBinaryDownloadUrl', { paths: [lib] })) as typeof import('mongodb-memory-server-core/lib/util/MongoBinaryDownloadUrl');
  const opts = await DryMongoBinary.generateOptions();
  const url = await new MongoBinaryDownloadUrl(opts).getDownloadUrl();
  try {
    const res = await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(5_000) });
    return { url, ok: res.ok, why: `HTTP ${res.status}` };
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    return { url, ok: false, why: cause?.code ?? cause?.message ?? (e as Error).message };
  }
}

/**
 * Whether `mongod` can be had: MONGOMS_SYSTEM_BINARY (must exist), a cached download, or a
 * reachable download URL. Exported for tests.
 */
export async function memoryServerAvailability(): Promise<Availability> {
  const lib = library();
  if (!lib) return { ok: false, reason: 'mongodb-memory-server-core is not installed (npm i -D mongodb-memory-server-core)' };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { DryMongoBinary } = require(lib) as typeof import('mongodb-memory-server-core');
  const system = process.env.MONGOMS_SYSTEM_BINARY;
  try {
    const found = await DryMongoBinary.locateBinary({ version: (await DryMongoBinary.generateOptions()).version });
    if (found) return { ok: true, detail: system ? `MONGOMS_SYSTEM_BINARY=${found}` : `cached mongod ${found}` };
  } catch (e) {
    // The library throws BinaryNotFoundError when MONGOMS_SYSTEM_BINARY names no executable.
    if (system) return { ok: false, reason: `MONGOMS_SYSTEM_BINARY=${system} is not a mongod binary: ${(e as Error).message}` };
    return { ok: false, reason: `mongodb-memory-server cannot tell which mongod to use: ${(e as Error).message}` };
  }
  const dl = await downloadable(lib).catch((e: Error) => ({ url: 'its download URL', ok: false, why: e.message }));
  if (dl.ok) return { ok: true, detail: `mongod will be downloaded from ${dl.url}` };
  return { ok: false, reason: `no cached mongod (MONGOMS_SYSTEM_BINARY unset) and ${dl.url} cannot be downloaded (${dl.why})` };
}

export const memoryServerProvider: MongoProvider = {
  name: 'memory-server',
  title: 'MongoDB (mongodb-memory-server)',
  available: memoryServerAvailability,
  async start(): Promise<Started> {
    const lib = library();
    if (!lib) throw new ServicesError('mongodb-memory-server-core is not installed');
    const body = `
      const { MongoMemoryServer } = require(${JSON.stringify(lib)});
      const srv = await MongoMemoryServer.create({ instance: { ip: '127.0.0.1' } });
      stops.push(() => srv.stop());
      return { mongoUri: srv.getUri() };
    `;
    const host = await startHost('mongodb-memory-server', body, NEEDLE, START_TIMEOUT_MS);
    return { mongo: { uri: host.result.mongoUri, origin: 'started', provider: 'memory-server', pid: host.pid, needle: NEEDLE, logFile: host.logFile } };
  },
  async stop(entry: MongoEntry): Promise<void> {
    if (entry.pid !== undefined) await stopPid(entry.pid, 'mongodb-memory-server', NEEDLE);
  },
};
