import { Global, Module, OnModuleInit } from '@nestjs/common';
import { Db } from 'mongodb';
import { ArtifactStore } from './artifact.store';
import { GridFsArtifactStore } from './gridfs-artifact.store';

/** Artifacts (plans, diffs, check outputs): GridFS content + `artifacts` metadata. */
@Global()
@Module({
  providers: [
    { provide: GridFsArtifactStore, inject: [Db], useFactory: (db: Db) => new GridFsArtifactStore(db) },
    { provide: ArtifactStore, useExisting: GridFsArtifactStore },
  ],
  exports: [ArtifactStore],
})
export class ArtifactsModule implements OnModuleInit {
  constructor(private readonly store: GridFsArtifactStore) {}

  async onModuleInit(): Promise<void> {
    await this.store.ensureIndexes();
  }
}
