import type { MongoEntry, ProviderName, RedisEntry } from '../state';

/** Whether a provider can run here: what it will use, or why not and how to fix it. */
export type Availability = { ok: true; detail: string } | { ok: false; reason: string };

/** What a provider started: the MongoDB-wire server, and a Redis when it brings its own. */
export interface Started {
  mongo: MongoEntry;
  redis?: RedisEntry;
}

/**
 * One way of getting a MongoDB-wire server for tests, the demo and CI (scripts/services.ts tries
 * them in the order of providers/index.ts; SERVICES_PROVIDER forces one).
 */
export interface MongoProvider {
  readonly name: ProviderName;
  /** The server it gives, for messages: `FerretDB v2 + DocumentDB`. */
  readonly title: string;
  /** A cheap check (no build, no server start) whether {@link start} can work here. */
  available(): Promise<Availability>;
  /** Starts the server (or takes the given one). @throws ServicesError with what to do. */
  start(): Promise<Started>;
  /** Stops what {@link start} started (nothing for an external server). */
  stop(entry: MongoEntry): Promise<void>;
}
