import { isSpanContextValid, trace } from '@opentelemetry/api';
import type { BullMQOtel } from 'bullmq-otel';
import { tracingEnabled } from './tracing-sdk';

/**
 * pino `mixin` (nestjs-pino `pinoHttp.mixin`): adds `trace_id` and `span_id` (lowercase hex, as
 * in W3C traceparent and OTLP/JSON) of the active span to every log line written inside one;
 * `{}` outside a span and whenever tracing is off.
 */
export function traceLogFields(): { trace_id?: string; span_id?: string } {
  const ctx = trace.getActiveSpan()?.spanContext();
  return ctx && isSpanContextValid(ctx) ? { trace_id: ctx.traceId, span_id: ctx.spanId } : {};
}

/**
 * The BullMQ `telemetry` option (Queue and Worker options; src/queues/queues.module.ts gives it to
 * `BullModule.forRootAsync`, whose options @nestjs/bullmq passes to every queue and worker): a
 * bullmq-otel `BullMQOtel` with tracer name `aicd` when tracing is on — each `add` becomes a
 * producer span whose context travels in the message (`opts.telemetry.metadata`), and each
 * delivery a consumer span `process <queue>` under it — else undefined (BullMQ then does no
 * telemetry work at all).
 *
 * bullmq-otel 2.x takes an options object: `new BullMQOtel('aicd')` (the 1.x style) would be
 * read as an object and silently keep the tracer name `bullmq`.
 */
export function bullTelemetry(): BullMQOtel | undefined {
  if (!tracingEnabled()) return undefined;
  const { BullMQOtel } = require('bullmq-otel') as typeof import('bullmq-otel');
  return new BullMQOtel({ tracerName: 'aicd' });
}
