/**
 * testcontainers: MongoDB and Redis in containers, when a container runtime answers. The runtime
 * is found the way the `testcontainers` package's runtime strategies find it (its
 * ConfigurationStrategy, TestcontainersHostStrategy, UnixSocketStrategy and
 * RootlessUnixSocketStrategy, in that order): DOCKER_HOST (or `docker.host` / `tc.host` in
 * ~/.testcontainers.properties), /var/run/docker.sock, then the rootless sockets; each is asked
 * `GET /_ping` (what dockerode's ping does), so the package (a dev dependency: ~100 packages with
 * dockerode, ssh2, gRPC and archiver) is loaded only when a runtime answers, and in the host
 * process only. Its containers run in a detached node host (providers/host.ts) and are removed by
 * testcontainers' Ryuk if that host dies.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { stopPid } from '../process';
import type { MongoEntry } from '../state';
import { resolvePackage, ServicesError } from '../util';
import { startHost } from './host';
import type { Availability, MongoProvider, Started } from './types';

const NEEDLE = 'aicd-testcontainers';
/** Image pulls may come first. */
const START_TIMEOUT_MS = 300_000;
const MONGO_IMAGE = process.env.TESTCONTAINERS_MONGO_IMAGE ?? 'mongo:7.0';
const REDIS_IMAGE = process.env.TESTCONTAINERS_REDIS_IMAGE ?? 'redis:7';

/** One place a container runtime may answer. */
interface Candidate {
  /** How it was found: `DOCKER_HOST`, `/var/run/docker.sock`, … */
  from: string;
  /** A unix socket path, or an http(s) base URL. */
  socketPath?: string;
  url?: string;
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
}

/** `key=value` lines of ~/.testcontainers.properties (empty when missing). */
function properties(): Record<string, string> {
  try {
    const text = fs.readFileSync(path.join(os.homedir(), '.testcontainers.properties'), 'utf8');
    return Object.fromEntries(text.split('\n').map((l) => /^\s*([\w.]+)\s*[=:]\s*(.*?)\s*$/.exec(l)).filter((m) => m !== null).map((m) => [m![1], m![2]]));
  } catch {
    return {};
  }
}

/** A docker host string (`unix:///…`, `tcp://h:p`) as a candidate. */
function hostCandidate(from: string, host: string, tlsVerify: boolean, certPath: string | undefined): Candidate {
  if (host.startsWith('unix://')) return { from: `${from}=${host}`, socketPath: host.slice('unix://'.length) };
  const url = host.replace(/^tcp:\/\//, tlsVerify ? 'https://' : 'http://');
  const read = (f: string) => (certPath && fs.existsSync(path.join(certPath, f)) ? fs.readFileSync(path.join(certPath, f)) : undefined);
  return { from: `${from}=${host}`, url, tls: tlsVerify ? { ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem') } : undefined };
}

/** The places testcontainers would look, in its order. */
export function runtimeCandidates(): Candidate[] {
  const props = properties();
  const out: Candidate[] = [];
  const dockerHost = process.env.DOCKER_HOST ?? props['docker.host'];
  if (dockerHost) {
    const tls = (process.env.DOCKER_TLS_VERIFY ?? props['docker.tls.verify'] ?? '') === '1';
    out.push(hostCandidate(process.env.DOCKER_HOST ? 'DOCKER_HOST' : 'docker.host', dockerHost, tls, process.env.DOCKER_CERT_PATH ?? props['docker.cert.path']));
  }
  if (props['tc.host']) out.push(hostCandidate('tc.host', props['tc.host'], false, undefined));
  const sockets = ['/var/run/docker.sock'];
  if (process.env.XDG_RUNTIME_DIR) sockets.push(path.join(process.env.XDG_RUNTIME_DIR, 'docker.sock'));
  sockets.push(path.join(os.homedir(), '.docker', 'run', 'docker.sock'), path.join(os.homedir(), '.docker', 'desktop', 'docker.sock'));
  if (process.getuid) sockets.push(`/run/user/${process.getuid()}/docker.sock`);
  for (const s of [...new Set(sockets)]) out.push({ from: s, socketPath: s });
  return out;
}

/** `GET /_ping` → `OK` within 2 s; resolves to undefined on success, else why not. */
function ping(c: Candidate): Promise<string | undefined> {
  if (c.socketPath && !fs.existsSync(c.socketPath)) return Promise.resolve('no such socket');
  return new Promise((resolve) => {
    const onRes = (res: http.IncomingMessage) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString('utf8')));
      res.on('end', () => resolve(res.statusCode === 200 && body.trim() === 'OK' ? undefined : `answered HTTP ${res.statusCode} ${body.slice(0, 80)}`));
    };
    const req = c.socketPath
      ? http.get({ socketPath: c.socketPath, path: '/_ping', timeout: 2_000 }, onRes)
      : (c.url!.startsWith('https:') ? https : http).get(`${c.url}/_ping`, { timeout: 2_000, ...(c.tls ?? {}) }, onRes);
    req.on('timeout', () => req.destroy(new Error('no answer within 2 s')));
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ? `${e.code}` : e.message));
  });
}

/** The first candidate that answers, or what each said. Exported for tests. */
export async function findContainerRuntime(): Promise<{ where: string } | { tried: string[] }> {
  const tried: string[] = [];
  for (const c of runtimeCandidates()) {
    const why = await ping(c);
    if (why === undefined) return { where: c.from };
    tried.push(`${c.from}: ${why}`);
  }
  return { tried };
}

/** Whether this provider can run: a runtime answers and the package is installed. Exported for tests. */
export async function testcontainersAvailability(): Promise<Availability> {
  const rt = await findContainerRuntime();
  if ('tried' in rt) return { ok: false, reason: `no container runtime answers (${rt.tried.join('; ')})` };
  if (!resolvePackage('testcontainers')) {
    return { ok: false, reason: `a container runtime answers at ${rt.where}, but the testcontainers package is not installed (it is a dev dependency: npm ci, without --omit=dev)` };
  }
  return { ok: true, detail: `container runtime at ${rt.where}` };
}

export const testcontainersProvider: MongoProvider = {
  name: 'testcontainers',
  title: `MongoDB and Redis in containers (${MONGO_IMAGE}, ${REDIS_IMAGE})`,
  available: testcontainersAvailability,
  async start(): Promise<Started> {
    const lib = resolvePackage('testcontainers');
    if (!lib) throw new ServicesError('the testcontainers package is not installed (it is a dev dependency: npm ci, without --omit=dev)');
    const body = `
      const { GenericContainer, Wait } = require(${JSON.stringify(lib)});
      const mongo = await new GenericContainer(${JSON.stringify(MONGO_IMAGE)}).withExposedPorts(27017)
        .withWaitStrategy(Wait.forLogMessage(/Waiting for connections/)).start();
      stops.push(() => mongo.stop());
      const redis = await new GenericContainer(${JSON.stringify(REDIS_IMAGE)}).withExposedPorts(6379)
        .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/)).start();
      stops.push(() => redis.stop());
      return {
        mongoUri: 'mongodb://' + mongo.getHost() + ':' + mongo.getMappedPort(27017) + '/',
        redisUrl: 'redis://' + redis.getHost() + ':' + redis.getMappedPort(6379),
      };
    `;
    const host = await startHost('testcontainers (MongoDB + Redis)', body, NEEDLE, START_TIMEOUT_MS);
    return {
      mongo: { uri: host.result.mongoUri, origin: 'started', provider: 'testcontainers', pid: host.pid, needle: NEEDLE, logFile: host.logFile },
      redis: host.result.redisUrl ? { url: host.result.redisUrl, origin: 'started', pid: host.pid, viaProvider: true } : undefined,
    };
  },
  async stop(entry: MongoEntry): Promise<void> {
    if (entry.pid !== undefined) await stopPid(entry.pid, 'testcontainers host', NEEDLE);
  },
};
