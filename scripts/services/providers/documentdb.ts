/**
 * FerretDB v2 + DocumentDB (PostgreSQL 15 with the DocumentDB extension) from `../shared/docdb`
 * (or DOCDB_DIR): real indexes and single-document updates atomic with their filter, so commits
 * are one operation. A private instance per run: install.sh (idempotent), start.sh on free ports in
 * a fresh data directory under the temp dir, stop.sh and the directory removed on stop.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { docdbDir, hasDocumentDb, newDocumentDbDataDir, startDocumentDb, stopDocumentDb } from '../../lib/docdb';
import { onInterrupt } from '../process';
import type { MongoEntry } from '../state';
import { log, ROOT, ServicesError } from '../util';
import type { Availability, MongoProvider, Started } from './types';

/** Data directories of this provider are named so (and only those are removed on stop). */
const LABEL = 'aicd-services-docdb';

export const documentdbProvider: MongoProvider = {
  name: 'documentdb',
  title: 'FerretDB v2 + DocumentDB',
  async available(): Promise<Availability> {
    const dir = docdbDir(ROOT);
    if (!hasDocumentDb(ROOT)) return { ok: false, reason: `no ${path.join(dir, 'start.sh')} (set DOCDB_DIR to the FerretDB v2 + DocumentDB scripts)` };
    return { ok: true, detail: dir };
  },
  async start(): Promise<Started> {
    const dir = docdbDir(ROOT);
    const dataDir = newDocumentDbDataDir(LABEL);
    log(`starting FerretDB v2 + DocumentDB from ${dir} (data and logs: ${dataDir})`);
    const forget = onInterrupt(async () => stopDocumentDb(dir, dataDir));
    try {
      const db = await startDocumentDb(dir, LABEL, dataDir);
      return { mongo: { uri: db.uri, origin: 'started', provider: 'documentdb', pid: db.pid, needle: `--state-dir=${dataDir}`, dataDir } };
    } catch (e) {
      forget();
      throw new ServicesError(
        `FerretDB v2 + DocumentDB from ${dir} did not start: ${(e as Error).message}\n` +
          '  Fix: see its README.md (install.sh needs root and PostgreSQL 15), or choose another server: SERVICES_PROVIDER=ferretdb-v1',
      );
    }
  },
  async stop(entry: MongoEntry): Promise<void> {
    if (!entry.dataDir || !path.basename(entry.dataDir).startsWith(LABEL)) return;
    if (!fs.existsSync(entry.dataDir)) return;
    log(`stopping FerretDB v2 + DocumentDB (${entry.dataDir})`);
    stopDocumentDb(docdbDir(ROOT), entry.dataDir);
  },
};
