/**
 * The OpenTelemetry SDK of this process (started by ./tracing.ts, which src/main.ts imports first).
 *
 * **Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set** (and `OTEL_SDK_DISABLED` is not `true`):
 * then no SDK module is even loaded — the `@opentelemetry/*` SDK packages are `require`d inside
 * {@link startTracing} only — and the app's spans go to the API's no-op tracer.
 *
 * When it is set, {@link startTracing} — called before Nest and anything it instruments is
 * loaded: the instrumentations patch modules as they are `require`d — starts:
 * - a `NodeTracerProvider` (sdk-trace-node 2.x), registered globally with the AsyncLocalStorage
 *   context manager and the W3C trace-context + baggage propagators (bullmq-otel injects and
 *   extracts message contexts through the global propagator);
 * - resource `service.name` = `OTEL_SERVICE_NAME` (default `aicd-orchestrator`),
 *   `service.version`, plus `OTEL_RESOURCE_ATTRIBUTES`;
 * - a `BatchSpanProcessor` (`OTEL_BSP_*` apply) into the OTLP/HTTP **JSON** exporter
 *   (exporter-trace-otlp-http), which POSTs to `<OTEL_EXPORTER_OTLP_ENDPOINT>/v1/traces`
 *   (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_HEADERS`, `…_TIMEOUT` apply);
 * - instrumentations: `http` (incoming requests are server spans; `/metrics` and `/healthz`
 *   scrapes are not traced), `express` (route names; middleware layers skipped), `@nestjs/core`
 *   (controller/handler spans);
 * - a sampler (unless `OTEL_TRACES_SAMPLER` is set): parent-based, always on, except root spans of
 *   BullMQ's housekeeping (`getNextJob <queue>` without a message, stalled-job checks, `close
 *   <queue>` on shutdown), which would otherwise be one trace per worker every few seconds.
 *
 * Versions: sdk-trace-node/-base, resources, core 2.12.x; exporter, instrumentation and
 * instrumentation-http 0.223.x; instrumentation-express 0.71.x, instrumentation-nestjs-core 0.70.x;
 * api 1.9.x. The next line (SDK 3.x / 0.300+, express 0.72, nestjs-core 0.71, api 1.10; node >=
 * 22.15) runs on our Node 24 but is a migration of its own: sdk-trace-node is replaced by
 * @opentelemetry/sdk-trace, `BatchSpanProcessor` takes `{ exporter }` and no longer reads
 * `OTEL_BSP_*`, and the tracer provider no longer reads `OTEL_TRACES_SAMPLER` — settings this file
 * and the README promise; it waits for a change that ports them and runs test/observability.
 */
import type { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { Attributes, Context, Link, SpanKind } from '@opentelemetry/api';
import type { Sampler, SamplingResult } from '@opentelemetry/sdk-trace-base';

let provider: NodeTracerProvider | undefined;

/** BullMQ span names (`<operation> <queue>`) that are housekeeping when they start a trace. */
const HOUSEKEEPING_ROOT = /^(getNextJob|moveStalledJobsToWait|startStalledCheckTimer|close) /;

/** Incoming requests not traced: scrapes and health checks (every few seconds, no job). */
const UNTRACED_PATHS = /^\/(metrics|healthz)(\/|\?|$)/;

/** Whether {@link startTracing} started the SDK in this process. */
export function tracingEnabled(): boolean {
  return provider !== undefined;
}

/**
 * Starts the OpenTelemetry SDK when `env.OTEL_EXPORTER_OTLP_ENDPOINT` is set; idempotent.
 * @returns true when tracing runs (now or already), false when it is off.
 */
export function startTracing(env: NodeJS.ProcessEnv = process.env): boolean {
  if (provider) return true;
  if (!env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_SDK_DISABLED === 'true') return false;
  // Loaded here, not imported at the top: with tracing off no SDK module is ever loaded.
  const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node') as typeof import('@opentelemetry/sdk-trace-node');
  const { BatchSpanProcessor, ParentBasedSampler, SamplingDecision } = require('@opentelemetry/sdk-trace-base') as typeof import('@opentelemetry/sdk-trace-base');
  const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http');
  const { defaultResource, detectResources, envDetector, resourceFromAttributes } = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources');
  const { registerInstrumentations } = require('@opentelemetry/instrumentation') as typeof import('@opentelemetry/instrumentation');
  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http') as typeof import('@opentelemetry/instrumentation-http');
  const { ExpressInstrumentation, ExpressLayerType } = require('@opentelemetry/instrumentation-express') as typeof import('@opentelemetry/instrumentation-express');
  const { NestInstrumentation } = require('@opentelemetry/instrumentation-nestjs-core') as typeof import('@opentelemetry/instrumentation-nestjs-core');

  const housekeeping: Sampler = {
    shouldSample(_ctx: Context, _traceId: string, name: string, _kind: SpanKind, _attrs: Attributes, _links: Link[]): SamplingResult {
      return { decision: HOUSEKEEPING_ROOT.test(name) ? SamplingDecision.NOT_RECORD : SamplingDecision.RECORD_AND_SAMPLED };
    },
    toString: () => 'AicdRootSampler',
  };
  const resource = defaultResource()
    .merge(resourceFromAttributes({ 'service.name': 'aicd-orchestrator', 'service.version': packageVersion() }))
    .merge(detectResources({ detectors: [envDetector] })) // OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME win
    .merge(resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME || 'aicd-orchestrator' }));
  provider = new NodeTracerProvider({
    resource,
    ...(env.OTEL_TRACES_SAMPLER ? {} : { sampler: new ParentBasedSampler({ root: housekeeping }) }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  provider.register();
  registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new HttpInstrumentation({ ignoreIncomingRequestHook: (req) => UNTRACED_PATHS.test(req.url ?? '') }),
      new ExpressInstrumentation({ ignoreLayersType: [ExpressLayerType.MIDDLEWARE] }),
      new NestInstrumentation(),
    ],
  });
  return true;
}

/**
 * Exports the spans still buffered (on shutdown, before the process exits); resolves at once when
 * tracing is off. Never rejects: an unreachable collector loses spans, not the shutdown.
 */
export async function flushTracing(timeoutMs = 5000): Promise<void> {
  if (!provider) return;
  await Promise.race([provider.forceFlush().catch(() => undefined), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
}

function packageVersion(): string {
  try {
    return (require('../../package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
