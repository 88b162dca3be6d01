/** The inventory store: the `Store` interface, its errors, and the SQLite implementation. */
export { StoreConstraintError, type Store } from "./store";
export { SqliteStore, openSqliteStore, type SqliteConnectionInfo } from "./sqlite";
export { SchemaTooNewError, type MigrationReport } from "./migrate";
export { LATEST_SCHEMA_VERSION } from "./migrations";
export { observeStore, type StoreObserver, type StoreWrite } from "./observed-store";
