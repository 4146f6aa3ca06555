/**
 * A small detached node process that keeps an in-process server alive (mongodb-memory-server,
 * testcontainers' containers) for as long as `up`/`run` need it, and stops it on SIGTERM/SIGINT.
 * The body is JavaScript that pushes its stop functions onto `stops` and returns the URLs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnDetached, waitReady } from '../process';
import { mongoAnswers } from '../probes';
import { log, ROOT, SERVICES_DIR } from '../util';

/** What a host reports once its servers run. */
export interface HostResult {
  mongoUri: string;
  redisUrl?: string;
}

/**
 * Starts a host running `body` (an async function body: may `require`, must `return { mongoUri,
 * redisUrl? }`), waits until it reported and the MongoDB URI answers ping.
 * @throws StartupError with the log tail when it exits or times out.
 */
export async function startHost(name: string, body: string, needle: string, timeoutMs: number): Promise<{ pid: number; result: HostResult; logFile: string }> {
  const logFile = path.join(SERVICES_DIR, `${needle}.log`);
  const resultFile = path.join(SERVICES_DIR, `${needle}.${process.pid}.json`);
  fs.rmSync(resultFile, { force: true });
  const script = `
    const fs = require('fs');
    const resultFile = process.argv[2];
    const stops = [];
    let stopping = false;
    const stopAll = (code) => {
      if (stopping) return;
      stopping = true;
      Promise.allSettled(stops.reverse().map((f) => f())).finally(() => process.exit(code));
    };
    process.on('SIGTERM', () => stopAll(0));
    process.on('SIGINT', () => stopAll(0));
    setInterval(() => {}, 1 << 30);
    (async () => { ${body} })().then(
      (r) => fs.writeFileSync(resultFile, JSON.stringify(r)),
      (e) => { console.error(e); stopAll(1); },
    );
  `;
  log(`starting ${name} (log: ${path.relative(ROOT, logFile)})`);
  const child = spawnDetached(process.execPath, ['-e', script, needle, resultFile], logFile, needle);
  let result: HostResult | undefined;
  try {
    await waitReady(
      name,
      child,
      async () => {
        try {
          result ??= JSON.parse(fs.readFileSync(resultFile, 'utf8')) as HostResult;
        } catch {
          return false;
        }
        return mongoAnswers(result.mongoUri, 1_000);
      },
      timeoutMs,
      logFile,
    );
  } finally {
    fs.rmSync(resultFile, { force: true });
  }
  return { pid: child.pid!, result: result!, logFile };
}
