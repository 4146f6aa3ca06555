/**
 * A minimal OTLP/HTTP trace collector for tests: accepts `POST /v1/traces` with the JSON encoding
 * (what @opentelemetry/exporter-trace-otlp-http sends: `ExportTraceServiceRequest` as JSON, ids as
 * lowercase hex, enums as numbers — see opentelemetry-proto's JSON mapping), answers `{}` (an
 * `ExportTraceServiceResponse` with no partial failure) and keeps every span. Anything else —
 * another path, protobuf, unparsable JSON — is a 415/404/400 and recorded in `rejected`.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An OTLP/JSON AnyValue. */
type AnyValue = { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean; arrayValue?: { values?: AnyValue[] } };
type KeyValue = { key: string; value: AnyValue };

/** One received span, with its resource's and scope's names. */
export interface CollectedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  attributes: Record<string, unknown>;
  serviceName: unknown;
  scope: string;
}

function plain(v: AnyValue): unknown {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(plain);
  return undefined;
}

const attributes = (kvs: KeyValue[] = []) => Object.fromEntries(kvs.map((kv) => [kv.key, plain(kv.value)]));

export class OtlpCollector {
  readonly spans: CollectedSpan[] = [];
  /** Export requests received (accepted ones). */
  requests = 0;
  readonly rejected: string[] = [];
  private server?: Server;

  /** Listens on 127.0.0.1 (a free port); returns the base URL for OTEL_EXPORTER_OTLP_ENDPOINT. */
  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const reject = (status: number, why: string) => {
          this.rejected.push(`${req.method} ${req.url} ${req.headers['content-type']}: ${why}`);
          res.writeHead(status).end();
        };
        if (req.method !== 'POST' || req.url !== '/v1/traces') return reject(404, 'not POST /v1/traces');
        if (!/^application\/json/.test(req.headers['content-type'] ?? '')) return reject(415, 'not JSON');
        let body: { resourceSpans?: { resource?: { attributes?: KeyValue[] }; scopeSpans?: { scope?: { name?: string }; spans?: (Omit<CollectedSpan, 'attributes' | 'serviceName' | 'scope'> & { attributes?: KeyValue[] })[] }[] }[] };
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch (e) {
          return reject(400, String(e));
        }
        this.requests++;
        for (const rs of body.resourceSpans ?? []) {
          const serviceName = attributes(rs.resource?.attributes)['service.name'];
          for (const ss of rs.scopeSpans ?? []) {
            for (const s of ss.spans ?? []) {
              this.spans.push({ traceId: s.traceId, spanId: s.spanId, ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}), name: s.name, kind: s.kind, attributes: attributes(s.attributes), serviceName, scope: ss.scope?.name ?? '' });
            }
          }
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Forgets everything received so far. */
  reset(): void {
    this.spans.length = 0;
    this.requests = 0;
    this.rejected.length = 0;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
