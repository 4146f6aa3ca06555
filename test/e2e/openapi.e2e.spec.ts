import SwaggerParser from '@apidevtools/swagger-parser';
import { startTestApp, type TestApp } from '../support/test-app';

type Operation = {
  parameters?: { name: string; in: string }[];
  requestBody?: unknown;
  security?: unknown[];
  responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }>;
};

/**
 * Routes that never answer 503: they touch no store, or (metrics) leave out what a failing store
 * would have given and count the failure in aicd_metrics_source_errors_total.
 */
const STORELESS = new Set(['GET /statecharts/{machine}', 'GET /metrics']);
/** Routes whose errors have their own body (the terminus health report). */
const OWN_ERROR_BODY = new Set(['GET /healthz']);

describe('OpenAPI document (/docs-json)', () => {
  let t: TestApp;
  let doc: { openapi: string; paths: Record<string, Record<string, Operation>> };

  beforeAll(async () => {
    t = await startTestApp('openapi', {}, { stages: [] });
    doc = (await t.http.get('/docs-json').expect(200)).body;
  });
  afterAll(async () => t?.close());

  it('is a valid OpenAPI 3 document (@apidevtools/swagger-parser, an independent validator)', async () => {
    expect(doc.openapi).toMatch(/^3\./);
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeDefined();
  });

  it('lists the dashboard\'s routes', () => {
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/whoami', '/jobs/counts', '/workers', '/queues', '/events/stream', '/jobs/{id}/statechart']));
  });

  it('every route documents the errors it can give, each with the error body schema', () => {
    const missing: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const route = `${method.toUpperCase()} ${path}`;
        const want = new Set<string>();
        if (!OWN_ERROR_BODY.has(route)) want.add('500');
        if (op.security?.length) want.add('401');
        if (op.parameters?.some((p) => p.in === 'query') || op.requestBody || op.security?.length) want.add('400');
        if (path.includes('{id}')) want.add('404');
        if (op.requestBody) ['413', '415'].forEach((s) => want.add(s));
        if (/\/(cancel|retry|events)$/.test(path) && method === 'post') want.add('409');
        if (!STORELESS.has(route)) want.add('503');
        for (const status of want) {
          const response = op.responses[status];
          if (!response) missing.push(`${route}: no ${status}`);
          else if (!OWN_ERROR_BODY.has(route) && response.content?.['application/json']?.schema?.$ref !== '#/components/schemas/ErrorBodyDto') {
            missing.push(`${route}: ${status} without the ErrorBodyDto schema`);
          }
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('the 415 it documents is what a non-JSON body gets, naming Content-Type', async () => {
    const res = await t.http.post('/jobs').set('x-tenant-id', 'acme').set('content-type', 'text/plain').send('repositoryId=acme/widgets').expect(415);
    expect(res.body).toEqual(expect.objectContaining({ statusCode: 415, code: 'UNSUPPORTED_MEDIA_TYPE', errors: [expect.objectContaining({ field: 'Content-Type' })] }));
    await t.http.post('/jobs').set('x-tenant-id', 'acme').set('content-type', 'application/vnd.api+json; charset=utf-8').send('{}').expect(400);
  });
});
