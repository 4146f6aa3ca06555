import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from '../../scripts/lib/free-port';
import { chooseProvider, PROVIDERS } from '../../scripts/services/providers';
import { memoryServerAvailability } from '../../scripts/services/providers/memory-server';
import { findContainerRuntime, testcontainersAvailability, testcontainersProvider } from '../../scripts/services/providers/testcontainers';
import * as servicesUtil from '../../scripts/services/util';

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * testcontainers is installed (a dev dependency), so on a machine whose Docker socket answers it
 * would be taken before the providers these tests walk past: hold it unavailable there.
 */
function withoutContainerRuntime(): void {
  jest.spyOn(testcontainersProvider, 'available').mockResolvedValue({ ok: false, reason: 'no container runtime answers (held off by the test)' });
}

/**
 * The MongoDB-wire providers of scripts/services.ts: their order, the detection of the two that
 * cannot run on this machine kind (no container runtime, no download of mongod), and their
 * refusals in words. Each test sets the environment it needs and restores it.
 */
describe('scripts/services.ts providers', () => {
  const saved = { ...process.env };
  let home: string;
  beforeEach(() => {
    // A HOME of its own: no ~/.testcontainers.properties, no rootless docker sockets, no mongod cache.
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'aicd-providers-'));
    process.env.HOME = home;
    for (const k of ['MONGODB_URI', 'SERVICES_PROVIDER', 'DOCKER_HOST', 'DOCKER_TLS_VERIFY', 'XDG_RUNTIME_DIR', 'MONGOMS_SYSTEM_BINARY', 'MONGOMS_DOWNLOAD_URL']) delete process.env[k];
    process.env.MONGOMS_DOWNLOAD_DIR = path.join(home, 'mongodb-binaries');
  });
  afterEach(() => {
    jest.restoreAllMocks();
    process.env = { ...saved };
    fs.rmSync(home, { recursive: true, force: true });
  });

  it('are tried in the documented order', () => {
    expect(PROVIDERS.map((p) => p.name)).toEqual(['uri', 'testcontainers', 'memory-server', 'documentdb', 'ferretdb-v1']);
  });

  it('testcontainers: a DOCKER_HOST on a closed port or a missing socket is no runtime, and the refusal says what was tried', async () => {
    const port = await freePort();
    process.env.DOCKER_HOST = `tcp://127.0.0.1:${port}`;
    const rt = await findContainerRuntime();
    expect(rt).toHaveProperty('tried');
    expect((rt as { tried: string[] }).tried[0]).toBe(`DOCKER_HOST=tcp://127.0.0.1:${port}: ECONNREFUSED`);
    process.env.DOCKER_HOST = `unix://${path.join(home, 'docker.sock')}`;
    const a = await testcontainersAvailability();
    if (fs.existsSync('/var/run/docker.sock')) return; // a machine with Docker: the socket may answer
    expect(a).toEqual({ ok: false, reason: expect.stringContaining(`no container runtime answers (DOCKER_HOST=unix://${home}/docker.sock: no such socket; /var/run/docker.sock: no such socket`) });
  });

  it('testcontainers: a runtime answering GET /_ping is found and taken; without the package it is refused naming it', async () => {
    const sock = path.join(home, 'fake-docker.sock');
    const server = http.createServer((req, res) => res.end(req.url === '/_ping' ? 'OK' : 'no'));
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      process.env.DOCKER_HOST = `unix://${sock}`;
      expect(await findContainerRuntime()).toEqual({ where: `DOCKER_HOST=unix://${sock}` });
      // The package is a dev dependency, so it is installed here.
      expect(await testcontainersAvailability()).toEqual({ ok: true, detail: `container runtime at DOCKER_HOST=unix://${sock}` });
      // Installed without dev dependencies (npm ci --omit=dev): the refusal names the package.
      const missing = jest.spyOn(servicesUtil, 'resolvePackage').mockReturnValue(undefined);
      try {
        expect(await testcontainersAvailability()).toEqual({
          ok: false,
          reason: `a container runtime answers at DOCKER_HOST=unix://${sock}, but the testcontainers package is not installed (it is a dev dependency: npm ci, without --omit=dev)`,
        });
      } finally {
        missing.mockRestore();
      }
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('memory-server: MONGOMS_SYSTEM_BINARY naming a missing file is refused with the library\'s reason', async () => {
    process.env.MONGOMS_SYSTEM_BINARY = path.join(home, 'no-such-mongod');
    const a = await memoryServerAvailability();
    expect(a.ok).toBe(false);
    expect((a as { reason: string }).reason).toMatch(new RegExp(`^MONGOMS_SYSTEM_BINARY=${home}/no-such-mongod is not a mongod binary: .*no-such-mongod`));
  });

  it('memory-server: MONGOMS_SYSTEM_BINARY naming an executable is taken (the library\'s own lookup)', async () => {
    const bin = path.join(home, 'mongod');
    fs.writeFileSync(bin, '#!/bin/sh\necho "db version v7.0.14"\n', { mode: 0o755 });
    process.env.MONGOMS_SYSTEM_BINARY = bin;
    expect(await memoryServerAvailability()).toEqual({ ok: true, detail: `MONGOMS_SYSTEM_BINARY=${bin}` });
  });

  it('memory-server: no cached mongod and a download that fails is refused, naming the URL and the error', async () => {
    const port = await freePort();
    // The library reads platform and version from the archive's name, so it has to look like one.
    process.env.MONGOMS_DOWNLOAD_URL = `http://127.0.0.1:${port}/mongodb-linux-x86_64-debian12-7.0.14.tgz`;
    expect(await memoryServerAvailability()).toEqual({
      ok: false,
      reason: `no cached mongod (MONGOMS_SYSTEM_BINARY unset) and http://127.0.0.1:${port}/mongodb-linux-x86_64-debian12-7.0.14.tgz cannot be downloaded (ECONNREFUSED)`,
    });
  });

  it('the order: MONGODB_URI first, then past the unavailable ones to DocumentDB when its scripts are there, else FerretDB v1', async () => {
    withoutContainerRuntime();
    process.env.DOCKER_HOST = `tcp://127.0.0.1:${await freePort()}`;
    process.env.MONGOMS_SYSTEM_BINARY = path.join(home, 'no-such-mongod');
    const docdb = path.join(home, 'docdb');
    fs.mkdirSync(docdb);
    fs.writeFileSync(path.join(docdb, 'start.sh'), '');
    process.env.DOCDB_DIR = docdb;
    process.env.MONGODB_URI = 'mongodb://127.0.0.1:1/';
    expect((await chooseProvider()).name).toBe('uri');
    delete process.env.MONGODB_URI;
    expect((await chooseProvider()).name).toBe('documentdb');
    process.env.DOCDB_DIR = path.join(home, 'nowhere');
    process.env.FERRETDB_BIN = process.execPath; // any existing file stands for a binary here
    expect((await chooseProvider()).name).toBe('ferretdb-v1');
  });

  it('a demoted provider (npm test: --demote=documentdb) is tried after FerretDB v1, and still taken when nothing else can run', async () => {
    withoutContainerRuntime();
    process.env.DOCKER_HOST = `tcp://127.0.0.1:${await freePort()}`;
    process.env.MONGOMS_SYSTEM_BINARY = path.join(home, 'no-such-mongod');
    const docdb = path.join(home, 'docdb');
    fs.mkdirSync(docdb);
    fs.writeFileSync(path.join(docdb, 'start.sh'), '');
    process.env.DOCDB_DIR = docdb;
    process.env.FERRETDB_BIN = process.execPath;
    expect((await chooseProvider(['documentdb'])).name).toBe('ferretdb-v1');
    delete process.env.FERRETDB_BIN;
    process.env.AICD_CACHE_DIR = path.join(home, 'cache'); // no cached FerretDB v1
    process.env.PATH = path.join(home, 'bin'); // and no go to build one
    expect((await chooseProvider(['documentdb'])).name).toBe('documentdb');
    process.env.SERVICES_PROVIDER = 'documentdb';
    process.env.FERRETDB_BIN = process.execPath;
    expect((await chooseProvider(['documentdb'])).name).toBe('documentdb');
  });

  it('SERVICES_PROVIDER forces one: an unknown name and one that cannot run are refused in words', async () => {
    process.env.SERVICES_PROVIDER = 'mongo';
    await expect(chooseProvider()).rejects.toThrow('SERVICES_PROVIDER=mongo is not one of uri, testcontainers, memory-server, documentdb, ferretdb-v1');
    process.env.SERVICES_PROVIDER = 'testcontainers';
    const port = await freePort();
    process.env.DOCKER_HOST = `tcp://127.0.0.1:${port}`;
    await expect(chooseProvider()).rejects.toThrow(`SERVICES_PROVIDER=testcontainers: MongoDB and Redis in containers (mongo:7.0, redis:7) cannot run here: no container runtime answers (DOCKER_HOST=tcp://127.0.0.1:${port}: ECONNREFUSED`);
    process.env.SERVICES_PROVIDER = 'documentdb';
    process.env.DOCDB_DIR = path.join(home, 'nowhere');
    await expect(chooseProvider()).rejects.toThrow(`SERVICES_PROVIDER=documentdb: FerretDB v2 + DocumentDB cannot run here: no ${home}/nowhere/start.sh`);
  });

  it('`services.ts run` with a provider that cannot run exits 1 with the reason and runs nothing', async () => {
    const env = { ...process.env, SERVICES_PROVIDER: 'memory-server', MONGOMS_SYSTEM_BINARY: path.join(home, 'no-such-mongod') };
    const marker = path.join(home, 'ran');
    const child = spawn(process.execPath, [path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), 'scripts/services.ts', 'run', '--', 'touch', marker], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(code).toBe(1);
    expect(stderr).toContain(`[services] error: SERVICES_PROVIDER=memory-server: MongoDB (mongodb-memory-server) cannot run here: MONGOMS_SYSTEM_BINARY=${home}/no-such-mongod is not a mongod binary`);
    expect(fs.existsSync(marker)).toBe(false);
  });
});
