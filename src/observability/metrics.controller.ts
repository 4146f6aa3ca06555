import { Controller, Get, Headers, Inject, Res, UnauthorizedException } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { createHash, timingSafeEqual } from 'node:crypto';
import { Registry } from 'prom-client';
import { ApiErrors } from '../common/api-errors';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { AicdMetrics } from './metrics';

const BEARER = /^Bearer +(\S+) *$/i;
const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Whether `authorization` (the request's header) satisfies METRICS_TOKEN: always when the token is
 * empty, else only `Bearer <token>` (compared in constant time).
 */
export function metricsAuthorized(token: string, authorization: string | undefined): boolean {
  if (!token) return true;
  const given = BEARER.exec(authorization ?? '')?.[1];
  return given !== undefined && timingSafeEqual(digest(given), digest(token));
}

/** The 401 of /metrics (error body like the API's; names the header, never echoes it). */
export function metricsUnauthorized(): UnauthorizedException {
  return new UnauthorizedException({
    statusCode: 401,
    error: 'Unauthorized',
    code: 'METRICS_TOKEN_REQUIRED',
    message: 'GET /metrics needs Authorization: Bearer <METRICS_TOKEN>',
    errors: [{ field: 'Authorization', messages: ['send Authorization: Bearer <METRICS_TOKEN>'] }],
  });
}

/**
 * `GET /metrics`: Prometheus text format (0.0.4). No tenant key (like /healthz); when
 * METRICS_TOKEN is set it requires `Authorization: Bearer <METRICS_TOKEN>` (401 otherwise).
 */
@ApiTags('observability')
@Controller('metrics')
export class MetricsController {
  constructor(
    private readonly metrics: AicdMetrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Prometheus metrics (jobs per state, transitions, stage and agent-call durations, usage, queues, breakers, Node process)' })
  @ApiProduces(Registry.PROMETHEUS_CONTENT_TYPE)
  @ApiOkResponse({ description: 'Prometheus text exposition format 0.0.4' })
  // No 503: a store that fails or is slow leaves its gauges out (aicd_metrics_source_errors_total counts it), the rest is served.
  @ApiErrors({ 401: 'METRICS_TOKEN is set and the request lacks `Authorization: Bearer <METRICS_TOKEN>` ({ code: METRICS_TOKEN_REQUIRED }).', 500: true })
  async scrape(@Res() res: Response, @Headers('authorization') authorization?: string): Promise<void> {
    if (!metricsAuthorized(this.config.METRICS_TOKEN, authorization)) throw metricsUnauthorized();
    const text = await this.metrics.text();
    // Written directly: Express's send() would rewrite the content type's parameters.
    res.writeHead(200, { 'Content-Type': this.metrics.contentType, 'Cache-Control': 'no-store' }).end(text);
  }
}
