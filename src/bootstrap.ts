import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import Redis from 'ioredis';
import { MongoClient } from 'mongodb';
import { Logger } from 'nestjs-pino';
import { AppModule, type AppOptions } from './app.module';
import { validateConfig, type AppConfig } from './config/config';
import { createValidationPipe } from './common/validation';
import { redisOptionsFromUrl } from './queues/redis-connection';
import { mountOperatorPages } from './dashboard/operator-pages';
import { YAML_TYPES } from './runs/pipeline-templates.controller';

/** A dependency that could not be reached at start; `message` says what to do. */
export class PreflightError extends Error {}

function describe(e: unknown): string {
  const err = e as { code?: string; message?: string };
  return err?.code ?? err?.message ?? String(e);
}

/**
 * Checks that Redis and MongoDB answer before the app starts, so an unreachable service gives
 * one clear line instead of a reconnect loop. Waits at most ~3 s per service.
 * @throws PreflightError naming the service, its URL and the fix.
 */
export async function preflight(config: AppConfig): Promise<void> {
  const redis = new Redis({ ...redisOptionsFromUrl(config.REDIS_URL), lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  let socketError: unknown;
  redis.on('error', (e) => (socketError ??= e));
  try {
    await redis.connect();
    await redis.ping();
  } catch (e) {
    throw new PreflightError(`cannot reach Redis at ${config.REDIS_URL} (${describe(socketError ?? e)}). Start Redis (\`npm run services:up\` prints a REDIS_URL) or set REDIS_URL.`);
  } finally {
    redis.disconnect();
  }
  const mongo = new MongoClient(config.MONGODB_URI, { serverSelectionTimeoutMS: 3000, connectTimeoutMS: 3000 });
  try {
    await mongo.db(config.MONGODB_DB).command({ ping: 1 });
  } catch (e) {
    throw new PreflightError(`cannot reach MongoDB at ${config.MONGODB_URI} (${describe(e)}). Start one (\`npm run services:up\` prints a MONGODB_URI) or set MONGODB_URI.`);
  } finally {
    await mongo.close();
  }
}

/** Builds the OpenAPI document served at /docs (JSON at /docs-json). */
export function setupOpenApi(app: INestApplication): void {
  const doc = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('aicd-orchestrator')
      .setDescription('Drives an AI coding agent through plan → code → review → PR as an XState statechart. Tenant from the API key: `Authorization: Bearer <key>` (`npm run tenant:create`).')
      .setVersion('0.1.0')
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'API key of a tenant (npm run tenant:create)' })
      .build(),
  );
  SwaggerModule.setup('docs', app, doc);
}

/**
 * Creates (not listens) the Nest application for `options`, with body limit, validation,
 * raw body for webhook signatures, OpenAPI and shutdown hooks.
 */
export async function createApp(options: AppOptions): Promise<INestApplication> {
  const config = validateConfig({ ...process.env, ...(options.env ?? {}) });
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(options), { rawBody: true, bufferLogs: true });
  app.useLogger(app.get(Logger));
  app.useBodyParser('json', { limit: config.BODY_LIMIT_BYTES });
  app.useBodyParser('text', { type: YAML_TYPES, limit: config.BODY_LIMIT_BYTES }); // pipeline templates in YAML
  app.useGlobalPipes(createValidationPipe());
  if (options.api) {
    setupOpenApi(app);
    mountOperatorPages(app, config);
  }
  // On SIGTERM/SIGINT: stop taking messages, let running calls finish or release them, close,
  // then exit 0 (by default Nest re-raises the signal, so the process would die with 143).
  app.enableShutdownHooks([], { useProcessExit: true });
  return app;
}
