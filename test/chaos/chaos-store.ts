/**
 * The MongoDB-wire server a chaos test runs its cluster on, isolated from other users of
 * MONGODB_URI: a private FerretDB v2 + DocumentDB when ../shared/docdb is there (the server CI's
 * suite runs on: one-operation commits, real indexes), else a private FerretDB v1 when its binary
 * is there (the version-claim path), else the suite's MONGODB_URI. `CHAOS_STORE=ferretdb-v1`
 * forces FerretDB v1.
 */
import * as path from 'node:path';
import { docdbDir, hasDocumentDb, startDocumentDb } from '../../scripts/lib/docdb';
import { FerretServer, findFerretdb } from './harness';

const ROOT = path.resolve(__dirname, '..', '..');

export interface ChaosStore {
  /** The server's URI; undefined for the suite's own (MONGODB_URI). */
  uri?: string;
  /** What it is, for the test's printout. */
  name: string;
  /** Stops what was started (call on every exit path). */
  stop(): Promise<void>;
}

export async function startChaosStore(label: string): Promise<ChaosStore> {
  if (process.env.CHAOS_STORE !== 'ferretdb-v1' && hasDocumentDb(ROOT)) {
    const db = await startDocumentDb(docdbDir(ROOT), `aicd-chaos-${label}`);
    return { uri: db.uri, name: 'private FerretDB v2 + DocumentDB', stop: async () => db.stop() };
  }
  const bin = findFerretdb();
  if (bin) {
    const ferret = await FerretServer.start(bin);
    return { uri: ferret.uri, name: 'private FerretDB v1', stop: () => ferret.stop() };
  }
  return { name: 'the suite\'s MONGODB_URI', stop: async () => undefined };
}
