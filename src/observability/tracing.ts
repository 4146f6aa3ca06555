/**
 * Tracing bootstrap: `import './observability/tracing'` is the FIRST import of src/main.ts, so the
 * SDK and its instrumentations (http, express, @nestjs/core) are in place before those modules are
 * loaded. Does nothing unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set: see ./tracing-sdk.ts.
 * (Tests that build the app in-process never import it: no SDK runs there.)
 */
import { startTracing } from './tracing-sdk';

startTracing(process.env);
