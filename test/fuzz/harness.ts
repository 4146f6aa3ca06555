import type { Queue } from 'bullmq';
import fc from 'fast-check';
import { BSON, type Db } from 'mongodb';
import { createHash } from 'node:crypto';
import * as http from 'node:http';

/** One raw HTTP request, sent byte for byte. */
export interface RawRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

export interface RawResponse {
  status: number;
  body: string;
}

/** Sends `req` to 127.0.0.1:`port` with node:http (no client-side normalisation of the body). */
export function send(port: number, agent: http.Agent, req: RawRequest): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...req.headers };
    if (req.body) headers['content-length'] = String(req.body.length);
    const r = http.request({ host: '127.0.0.1', port, method: req.method, path: req.path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    r.setTimeout(15_000, () => r.destroy(new Error(`timeout: ${req.method} ${req.path.slice(0, 200)}`)));
    r.on('error', reject);
    r.end(req.body);
  });
}

/**
 * A digest of what a request could change: every document of the `jobs` collection (EJSON,
 * sorted by _id) and the job counts of every BullMQ queue. Taken after every request.
 */
export async function fingerprint(db: Db, queues: Queue[]): Promise<string> {
  const [docs, ...counts] = await Promise.all([
    db.collection('jobs').find().sort({ _id: 1 }).toArray().then((d) => BSON.EJSON.stringify(d)),
    ...queues.map(async (q) => `${q.name}:${JSON.stringify(await q.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'completed', 'failed', 'waiting-children'))}`),
  ]);
  return createHash('sha256').update([docs, ...counts].join('\n')).digest('hex');
}

/**
 * A digest of every other collection (and the list of collections): nothing over HTTP may change
 * them (tenants and API keys are made by `npm run tenant:create`). Compared around each property.
 */
export async function fingerprintOthers(db: Db): Promise<string> {
  const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();
  const docs = await Promise.all(names.filter((n) => n !== 'jobs').map(async (n) => `${n}:${BSON.EJSON.stringify(await db.collection(n).find().sort({ _id: 1 }).toArray())}`));
  return createHash('sha256').update([names.join(','), ...docs].join('\n')).digest('hex');
}

/** A short description of a request for failure messages. */
export function describeRequest(req: RawRequest): string {
  const body = req.body ? ` body(${req.body.length} B)=${JSON.stringify(req.body.subarray(0, 300).toString('latin1'))}` : '';
  return `${req.method} ${req.path.slice(0, 300)} headers=${JSON.stringify(req.headers).slice(0, 500)}${body}`;
}

/** A generated request that fast-check prints (in counterexamples) as a short description. */
export class Case<T = unknown> {
  constructor(
    readonly req: RawRequest,
    readonly meta: T,
  ) {}

  [fc.toStringMethod](): string {
    return `${describeRequest(this.req)} ${JSON.stringify(this.meta)?.slice(0, 200) ?? ''}`;
  }
}
