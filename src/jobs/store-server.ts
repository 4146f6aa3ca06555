import type { Db } from 'mongodb';

/**
 * What the process found its store to be at startup (filled by MongoModule before anything else
 * runs): the server and the compare-and-set its commits use. Read by `/healthz` and the startup line.
 */
export class StoreServerInfo {
  server?: StoreServer;
  commitMode?: 'one-operation' | 'version-claim';

  /** `FerretDB v1.24.2 (wire 7.0.42), version-claim commits`, or `unknown` before startup. */
  describe(): string {
    return this.server ? `${storeServerName(this.server)}, ${this.commitMode} commits` : 'unknown';
  }
}

/**
 * The MongoDB-wire server behind the store, as its `buildInfo` tells it, and whether it applies
 * an update atomically with its filter (what a one-operation compare-and-set needs).
 */
export interface StoreServer {
  /** `MongoDB`, `FerretDB`. */
  product: 'MongoDB' | 'FerretDB';
  /** The product's own version: `7.0.14`, `v2.7.0`, `v1.24.2`. */
  version: string;
  /** The MongoDB version the server speaks (buildInfo `version`). */
  wireVersion: string;
  /**
   * True when `updateOne({ _id, version }, …)` matches and writes as one atomic step: MongoDB
   * (documented: single-document writes are atomic) and FerretDB v2 on DocumentDB (measured in
   * ../shared/docdb: 0 of 50 rounds of 10 racing writers had two winners). False for FerretDB
   * v1, whose updates are not atomic with their filter (48 of 50 rounds had several winners,
   * test/integration/mongo-job.repository.spec.ts).
   */
  atomicUpdates: boolean;
}

/** The fields of a `buildInfo` reply read here (FerretDB v1: `ferretdbVersion`; v2: `ferretdb.version`). */
export interface BuildInfo {
  version?: unknown;
  ferretdbVersion?: unknown;
  ferretdb?: { version?: unknown };
}

/**
 * Reads a `buildInfo` reply. FerretDB v1 answers `{ version: "7.0.42", ferretdbVersion: "v1.24.2" }`,
 * FerretDB v2 `{ version: "7.0.77", ferretdb: { version: "v2.7.0" } }`, MongoDB neither field.
 * FerretDB 2 and later count as atomic; a version that cannot be read counts as not atomic (the
 * safe path: version claims are correct on every server).
 */
export function describeStoreServer(info: BuildInfo): StoreServer {
  const wireVersion = typeof info.version === 'string' ? info.version : 'unknown';
  const ferret = typeof info.ferretdbVersion === 'string' ? info.ferretdbVersion : typeof info.ferretdb?.version === 'string' ? info.ferretdb.version : undefined;
  if (ferret === undefined) return { product: 'MongoDB', version: wireVersion, wireVersion, atomicUpdates: true };
  const major = Number(/^v?(\d+)\./.exec(ferret)?.[1] ?? NaN);
  return { product: 'FerretDB', version: ferret, wireVersion, atomicUpdates: major >= 2 };
}

/** `FerretDB v2.7.0 (wire 7.0.77)`, `MongoDB 7.0.14`. */
export function storeServerName(s: StoreServer): string {
  return s.product === 'MongoDB' ? `MongoDB ${s.version}` : `FerretDB ${s.version} (wire ${s.wireVersion})`;
}

/** Asks the server. @throws the driver's error when it does not answer. */
export async function detectStoreServer(db: Db): Promise<StoreServer> {
  return describeStoreServer((await db.admin().command({ buildInfo: 1 })) as BuildInfo);
}
