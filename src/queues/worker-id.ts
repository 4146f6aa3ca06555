import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/** DI token of this process's worker id: `<host>:<pid>:<random>`, unique per process start. */
export const WORKER_ID = Symbol('WORKER_ID');

/** A new worker id for this process. */
export function newWorkerId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}
