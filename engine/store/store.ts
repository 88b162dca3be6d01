import type { Datastore, DiskLayer, Job, JobError, JobProgress, JobState, RecordState, Template } from "../model";

/**
 * The inventory, behind one interface so that a PostgreSQL store can stand in for SQLite.
 * Every write happens inside `tx()`; reads may happen outside. Lookups return `null` for an
 * unknown id (callers turn that into `notFound`); writes throw on constraint violations with
 * a `StoreConstraintError` naming the column.
 */
export interface Store {
  /** Runs `fn` in one transaction; a throw rolls back everything it wrote. */
  tx<T>(fn: (s: Store) => T): T;
  close(): void;

  // datastores
  insertDatastore(ds: Datastore): void;
  getDatastore(id: string): Datastore | null;
  findDatastoreByName(name: string): Datastore | null;
  listDatastores(): Datastore[];
  deleteDatastore(id: string): void;

  // disk layers
  insertLayer(layer: DiskLayer): void;
  getLayer(id: string): DiskLayer | null;
  findLayerByPath(path: string): DiskLayer | null;
  findLayersByContentId(contentId: string): DiskLayer[];
  listLayers(filter?: { datastoreId?: string; ownerKind?: DiskLayer["ownerKind"]; ownerId?: string }): DiskLayer[];
  updateLayer(id: string, patch: Partial<Pick<DiskLayer, "contentId" | "parentContentId" | "backingPath" | "path" | "state" | "virtualSizeBytes">>): void;
  deleteLayer(id: string): void;

  // templates
  insertTemplate(t: Template): void;
  getTemplate(id: string): Template | null;
  findTemplateByName(name: string): Template | null;
  listTemplates(filter?: { datastoreId?: string }): Template[];
  setTemplateState(id: string, state: RecordState): void;
  deleteTemplate(id: string): void;

  // jobs
  insertJob(job: Job): void;
  getJob(id: string): Job | null;
  findJobByIdempotencyKey(key: string): Job | null;
  /** Newest first; `states` filters when given. */
  listJobs(filter?: { states?: JobState[]; limit?: number }): Job[];
  updateJob(
    id: string,
    patch: Partial<Pick<Job, "state" | "progress" | "intent" | "result" | "error" | "targetId" | "cancelRequested" | "startedAt" | "finishedAt">>,
  ): void;

  // engine settings (small key/value facts such as the schema version or host name)
  getSetting(key: string): string | null;
  setSetting(key: string, value: string): void;
}

/** A unique or foreign-key constraint refused a write. */
export class StoreConstraintError extends Error {
  constructor(
    message: string,
    /** The column that clashed, when known (e.g. `name`). */
    readonly column?: string,
  ) {
    super(message);
    this.name = "StoreConstraintError";
  }
}

export type { JobError, JobProgress };
