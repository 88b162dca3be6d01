/** The inventory: its asynchronous interface per aggregate, its errors, and opening it on SQLite or PostgreSQL. */
export { StoreConstraintError } from "./errors";
export type * from "./inventory";
export { openInventory } from "./sql/sql-inventory";
export { InventoryUnavailableError } from "./sql/driver";
export { SchemaTooNewError, type MigrationReport } from "./migrate";
export { LATEST_SCHEMA_VERSION } from "./migrations";
export { observeInventory, type InventoryObserver, type InventoryWrite } from "./observed-inventory";
