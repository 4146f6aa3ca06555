/**
 * The chaos tests' own redis-server and FerretDB (v1, SQLite handler), each on its own port and
 * data dir, so a test can kill -9 and restart them; `restart` keeps the data.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Redis from 'ioredis';
import { MongoClient } from 'mongodb';
import { Child, freePort, poll } from './process';

async function redisAnswers(url: string): Promise<boolean> {
  const c = new Redis(url, { lazyConnect: true, connectTimeout: 500, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return (await c.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    c.disconnect();
  }
}

async function mongoAnswers(uri: string): Promise<boolean> {
  const c = new MongoClient(uri, { serverSelectionTimeoutMS: 500, connectTimeoutMS: 500 });
  try {
    await c.db('admin').command({ ping: 1 });
    return true;
  } catch {
    return false;
  } finally {
    await c.close().catch(() => undefined);
  }
}

/**
 * A server child on its own port and data dir: `up` starts it and waits until it answers, `down`
 * signals it (the data dir stays, so `up` again is a restart), `stop` kills it and removes the dir.
 */
abstract class ServerProcess {
  child?: Child;
  protected constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  abstract up(): Promise<void>;

  async down(signal: NodeJS.Signals): Promise<void> {
    this.child?.kill(signal);
    await this.child?.waitExit(10_000);
  }

  async stop(): Promise<void> {
    await this.down('SIGKILL').catch(() => undefined);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A redis-server on its own port and data dir; `restart` keeps both. */
export class RedisServer extends ServerProcess {
  readonly url: string;
  private constructor(
    port: number,
    dir: string,
    readonly aof: boolean,
  ) {
    super(port, dir);
    this.url = `redis://127.0.0.1:${port}`;
  }

  static async start(aof: boolean): Promise<RedisServer> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aicd-chaos-redis-'));
    const s = new RedisServer(await freePort(), dir, aof);
    await s.up();
    return s;
  }

  async up(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--appendonly', this.aof ? 'yes' : 'no', '--appendfsync', 'everysec'];
    this.child = new Child(`redis:${this.port}`, 'redis-server', args, process.env, path.join(this.dir, 'redis.log'));
    await poll(async () => ((await redisAnswers(this.url)) ? true : undefined), 10_000, () => `redis-server did not start:\n${this.child!.log()}`, 50);
  }
}

/** `redis-server` on PATH, or undefined. */
export function findRedisServer(): string | undefined {
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .map((d) => path.join(d, 'redis-server'))
    .find((p) => {
      try {
        fs.accessSync(p, fs.constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
}

/** The FerretDB binary: $FERRETDB_BIN, else the build cache of scripts/build-ferretdb.sh; undefined if neither. */
export function findFerretdb(): string | undefined {
  const candidates = [
    process.env.FERRETDB_BIN,
    path.join(process.env.AICD_CACHE_DIR || path.join(os.homedir(), '.cache', 'aicd-orchestrator'), 'ferretdb-v1.24.2', 'ferretdb'),
  ];
  return candidates.find((c): c is string => !!c && fs.existsSync(c));
}

/** FerretDB (SQLite handler) on its own port and data dir; `restart` keeps both. */
export class FerretServer extends ServerProcess {
  readonly uri: string;
  private constructor(
    readonly bin: string,
    port: number,
    dir: string,
  ) {
    super(port, dir);
    this.uri = `mongodb://127.0.0.1:${port}/`;
  }

  static async start(bin: string): Promise<FerretServer> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aicd-chaos-ferretdb-'));
    const s = new FerretServer(bin, await freePort(), dir);
    await s.up();
    return s;
  }

  async up(): Promise<void> {
    const args = [
      '--handler=sqlite',
      // WAL with synchronous=normal: a commit survives the server's own crash (kill -9), only not
      // a power loss; FULL would fsync every write, which makes a CI disk the bottleneck.
      `--sqlite-url=file:${this.dir}/?_pragma=synchronous(normal)`,
      `--listen-addr=127.0.0.1:${this.port}`,
      `--state-dir=${this.dir}`,
      process.env.CHAOS_FERRETDB_DEBUG_ADDR ? `--debug-addr=${process.env.CHAOS_FERRETDB_DEBUG_ADDR}` : '--debug-addr=-',
      '--telemetry=disable',
      '--log-level=error',
    ];
    this.child = new Child(`ferretdb:${this.port}`, this.bin, args, process.env, path.join(this.dir, 'ferretdb.log'));
    await poll(async () => ((await mongoAnswers(this.uri)) ? true : undefined), 20_000, () => `FerretDB did not start:\n${this.child!.log()}`, 100);
  }
}
