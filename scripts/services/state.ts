/** What `up` started, recorded in .services/state.json so `down`, `env` and a later `up` find it. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isAlive } from './process';
import { SERVICES_DIR } from './util';

const STATE_FILE = path.join(SERVICES_DIR, 'state.json');

/** How a service entry came to exist: started by us (and so stoppable) or found already running. */
export type Origin = 'started' | 'external';

/** The MongoDB-wire providers, in the order `up` tries them (see providers/index.ts). */
export const PROVIDER_NAMES = ['uri', 'testcontainers', 'memory-server', 'documentdb', 'ferretdb-v1'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

/** A Redis instance recorded in the state file. */
export interface RedisEntry {
  url: string;
  origin: Origin;
  /** pid of the redis-server we spawned (origin === 'started'). */
  pid?: number;
  logFile?: string;
  /** Set when the Redis came with the MongoDB provider (testcontainers): it stops with it. */
  viaProvider?: boolean;
}

/** A MongoDB-wire server recorded in the state file. */
export interface MongoEntry {
  uri: string;
  origin: Origin;
  provider: ProviderName;
  /** The process that keeps the server alive: FerretDB v1, FerretDB v2, or a node host process. */
  pid?: number;
  /** Command-line substring of `pid` (guards against pid reuse when stopping). */
  needle?: string;
  dataDir?: string;
  logFile?: string;
}

/** Content of .services/state.json. */
export interface State {
  redis: RedisEntry;
  mongo: MongoEntry;
  updatedAt: string;
}

/** The providers of the layout before them (`kind` instead of `provider`), and their pid guards. */
const LEGACY_KINDS: Record<string, { provider: ProviderName; needle?: string }> = {
  ferretdb: { provider: 'ferretdb-v1', needle: '--handler=sqlite' },
  'mongodb-memory-server': { provider: 'memory-server', needle: 'aicd-mongodb-memory-server' },
  external: { provider: 'uri' },
};

/** Reads .services/state.json (also as an earlier version wrote it), or undefined if missing or corrupt. */
export function readState(): State | undefined {
  try {
    const parsed = JSON.parse(fs.readFileSync(STATE_FILE, 'utf8')) as Partial<State> & { mongo?: { kind?: string } };
    if (!parsed.redis?.url || !parsed.mongo?.uri) return undefined;
    const legacy = parsed.mongo.kind !== undefined ? LEGACY_KINDS[parsed.mongo.kind] : undefined;
    if (legacy && parsed.mongo.provider === undefined) parsed.mongo = { ...parsed.mongo, ...legacy, needle: parsed.mongo.needle ?? legacy.needle };
    if (PROVIDER_NAMES.includes(parsed.mongo.provider as ProviderName)) return parsed as State;
  } catch {
    /* missing or unreadable */
  }
  return undefined;
}

/** Atomically writes .services/state.json. */
export function writeState(state: State): void {
  fs.mkdirSync(SERVICES_DIR, { recursive: true });
  const tmp = `${STATE_FILE}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  fs.renameSync(tmp, STATE_FILE);
}

/** Removes .services/state.json if present. */
export function removeState(): void {
  fs.rmSync(STATE_FILE, { force: true });
}

/** True if a recorded entry we started still has a live process (external entries: n/a). */
export function ownedPidAlive(entry: { origin: Origin; pid?: number }): boolean {
  return entry.origin !== 'started' || (entry.pid !== undefined && isAlive(entry.pid));
}
