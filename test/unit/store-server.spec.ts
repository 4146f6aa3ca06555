import { describeStoreServer, storeServerName } from '../../src/jobs/store-server';

/** buildInfo replies as the servers send them (the fields read; FerretDB's recorded from this machine's servers). */
describe('the store server from buildInfo', () => {
  it('FerretDB v1 (ferretdbVersion): not atomic, so commits use version claims', () => {
    const s = describeStoreServer({ version: '7.0.42', ferretdbVersion: 'v1.24.2' });
    expect(s).toEqual({ product: 'FerretDB', version: 'v1.24.2', wireVersion: '7.0.42', atomicUpdates: false });
    expect(storeServerName(s)).toBe('FerretDB v1.24.2 (wire 7.0.42)');
  });

  it('FerretDB v2 on DocumentDB (ferretdb.version): atomic', () => {
    expect(describeStoreServer({ version: '7.0.77', ferretdb: { version: 'v2.7.0' } })).toEqual({ product: 'FerretDB', version: 'v2.7.0', wireVersion: '7.0.77', atomicUpdates: true });
  });

  it('MongoDB (no FerretDB field): atomic', () => {
    const s = describeStoreServer({ version: '7.0.14' });
    expect(s).toEqual({ product: 'MongoDB', version: '7.0.14', wireVersion: '7.0.14', atomicUpdates: true });
    expect(storeServerName(s)).toBe('MongoDB 7.0.14');
  });

  it('a FerretDB version that cannot be read counts as not atomic (the claim path is correct everywhere)', () => {
    expect(describeStoreServer({ version: '7.0.0', ferretdbVersion: 'unknown' }).atomicUpdates).toBe(false);
  });
});
