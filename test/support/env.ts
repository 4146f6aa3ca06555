/**
 * Jest setup: the tests need real services. `npm test` starts them (scripts/services.ts) and
 * exports REDIS_URL and MONGODB_URI; running jest directly needs them set by hand.
 */
import 'reflect-metadata';

if (!process.env.REDIS_URL || !process.env.MONGODB_URI) {
  throw new Error('REDIS_URL and MONGODB_URI must be set: run the tests with `npm test` (it starts Redis and a MongoDB-wire server), or export both.');
}
process.env.LOG_LEVEL ??= 'warn';
