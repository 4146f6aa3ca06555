import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { createServer, type Server } from 'node:http';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { metricsAuthorized } from './metrics.controller';
import { AicdMetrics } from './metrics';

/**
 * `GET /metrics` of a process without the API (`--role=worker`), on METRICS_PORT (0 = none), so
 * its per-process metrics (stage and agent-call durations, usage, breakers, Node) can be scraped.
 * Same METRICS_TOKEN rule as the API's; any other path is a 404.
 */
@Injectable()
export class WorkerMetricsServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger(WorkerMetricsServer.name);
  private server?: Server;

  constructor(
    private readonly metrics: AicdMetrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const port = this.config.METRICS_PORT;
    if (port <= 0) return;
    const server = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (req.method !== 'GET' || path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ statusCode: 404, error: 'Not Found', message: 'only GET /metrics here' }));
        return;
      }
      if (!metricsAuthorized(this.config.METRICS_TOKEN, req.headers.authorization)) {
        res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer' });
        res.end(JSON.stringify({ statusCode: 401, error: 'Unauthorized', code: 'METRICS_TOKEN_REQUIRED', message: 'GET /metrics needs Authorization: Bearer <METRICS_TOKEN>' }));
        return;
      }
      this.metrics.text().then(
        (text) => res.writeHead(200, { 'content-type': this.metrics.contentType, 'cache-control': 'no-store' }).end(text),
        (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${e instanceof Error ? e.message : String(e)}`),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '0.0.0.0', () => resolve());
    });
    this.server = server;
    this.log.log(`metrics on http://0.0.0.0:${port}/metrics`);
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
