import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort } from './free-port';

const ROOT = path.resolve(__dirname, '..', '..');
/** The built service. */
export const MAIN_JS = path.join(ROOT, 'dist', 'main.js');

const sleep = (n: number) => new Promise((r) => setTimeout(r, n));

/** The answer to one HTTP request: status and body (JSON when it parses, else text). */
export interface Answer<T = Record<string, unknown>> {
  status: number;
  body: T;
}

/** Something went wrong that ends the script with a message (no stack trace). */
export class ScriptAbort extends Error {}

/** A pino JSON line as `level message`, anything else as is. */
export function readable(line: string): string {
  try {
    const j = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
    const level = ({ 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' } as Record<number, string>)[j.level ?? 30] ?? 'log';
    return `${level.padEnd(5)} ${j.msg ?? ''}${j.err?.message && !j.msg?.includes(j.err.message) ? ` (${j.err.message})` : ''}`;
  } catch {
    return line;
  }
}

/**
 * One `node dist/main.js` child for the demo: started on a free port with `env`, its output kept
 * in `logFile` and the last 200 lines in memory; {@link ServiceProcess.boot} waits for GET
 * /healthz = 200 (retrying another port if one was taken meanwhile); {@link stop} sends SIGTERM,
 * then SIGKILL after the grace period.
 */
export class ServiceProcess {
  readonly tail: string[] = [];
  exited?: string;

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    readonly logFile: string,
  ) {}

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private static start(env: NodeJS.ProcessEnv, port: number, logFile: string, args: string[], nodeArgs: string[]): ServiceProcess {
    const out = fs.createWriteStream(logFile, { flags: 'a' });
    const child = spawn(process.execPath, [...nodeArgs, MAIN_JS, ...args], { cwd: ROOT, env: { ...env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
    const s = new ServiceProcess(child, port, logFile);
    const collect = (chunk: Buffer) => {
      out.write(chunk);
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) s.tail.push(l);
      if (s.tail.length > 200) s.tail.splice(0, s.tail.length - 200);
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    child.on('error', (e) => (s.exited ??= `spawn error: ${e.message}`));
    child.on('exit', (code, signal) => (s.exited ??= signal ? `signal ${signal}` : `exit code ${code}`));
    child.on('close', () => out.end()); // after the last output, which may follow 'exit'
    return s;
  }

  /**
   * Starts the service and waits until GET /healthz answers 200.
   * @param onStart called with each started process (so the caller can stop it on interrupt).
   * @param args arguments of `node dist/main.js` (e.g. `--role=api`); default: API and every stage.
   * @param firstPort the port of the first try (a free port is picked when omitted, and for retries).
   * @param nodeArgs options of `node` itself, before the script (e.g. `--cpu-prof`, which NODE_OPTIONS does not allow).
   * @throws ScriptAbort when it exits or does not answer within `healthTimeoutMs`.
   */
  static async boot(
    env: NodeJS.ProcessEnv,
    logFile: string,
    healthTimeoutMs: number,
    onStart: (s: ServiceProcess) => void,
    say: (l: string) => void,
    args: string[] = [],
    firstPort?: number,
    nodeArgs: string[] = [],
  ): Promise<ServiceProcess> {
    for (let attempt = 1; ; attempt++) {
      const port = attempt === 1 && firstPort ? firstPort : await freePort();
      const s = ServiceProcess.start(env, port, logFile, args, nodeArgs);
      onStart(s);
      const deadline = Date.now() + healthTimeoutMs;
      while (Date.now() < deadline && !s.exited) {
        try {
          const res = await fetch(`${s.base}/healthz`, { signal: AbortSignal.timeout(2_000) });
          if (res.status === 200) return s;
        } catch {
          /* not listening yet */
        }
        await sleep(150);
      }
      if (s.exited && attempt < 3 && s.tail.some((l) => l.includes('EADDRINUSE'))) {
        say(`port ${port} was taken meanwhile; trying another one`);
        continue;
      }
      if (!s.exited) throw new ScriptAbort(`GET /healthz did not answer 200 within ${healthTimeoutMs / 1000} s`);
      throw new ScriptAbort(`the service exited early (${s.exited})`);
    }
  }

  /** Throws when the service is gone (it must live until the script stops it). */
  assertAlive(): void {
    if (this.exited) throw new ScriptAbort(`the service exited early (${this.exited})`);
  }

  /** One request to the service (10 s timeout). @throws ScriptAbort when it is gone or unreachable. */
  async http<T = Record<string, unknown>>(method: string, url: string, headers: Record<string, string> = {}, body?: string): Promise<Answer<T>> {
    this.assertAlive();
    let res: Response;
    try {
      res = await fetch(`${this.base}${url}`, {
        method,
        headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        body,
        signal: AbortSignal.timeout(10_000),
      });
    } catch (e) {
      this.assertAlive();
      throw new ScriptAbort(`${method} ${url} failed: ${(e as Error).message}`);
    }
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, body: parsed as T };
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs: number, say: (l: string) => void): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (!this.exited) {
        say(`the service ignored SIGTERM for ${graceMs / 1000} s; sending SIGKILL`);
        this.child.kill('SIGKILL');
      }
    }, graceMs);
    await gone;
    clearTimeout(timer);
  }

  printTail(say: (l: string) => void, lines: number): void {
    say(`--- last ${Math.min(lines, this.tail.length)} lines of the service's output (full log: ${this.logFile}) ---`);
    for (const l of this.tail.slice(-lines)) say(`  ${readable(l)}`);
    say('---');
  }
}
