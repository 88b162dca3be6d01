import { StoreConstraintError } from "../errors";
import type { SqlRow, SqlSession, SqlValue } from "./driver";
import type { PatchSpec } from "../rows";

/** Values per `IN (…)` list: SQLite's default limit is 32766 parameters, PostgreSQL's 65535. */
const IN_LIST_CHUNK = 500;

/**
 * Row-level statements on one table, shared by every aggregate: insert a row, patch columns by a
 * spec, delete by id. Constraint failures carry the column; SQLite does not name the column of a
 * foreign-key failure, so it is found by looking for the missing (or still referring) row.
 */
export class Table<R extends object> {
  constructor(
    private readonly db: SqlSession,
    readonly name: string,
    private readonly key = "id",
  ) {}

  async insert(row: R): Promise<void> {
    const values = row as SqlRow;
    const columns = Object.keys(values);
    try {
      await this.db.run(`INSERT INTO ${this.name} (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`, columns.map((c) => values[c] as SqlValue));
    } catch (err) {
      throw (await this.explainMissingParent(err, row)) ?? err;
    }
  }

  async one(where: string, params: readonly SqlValue[]): Promise<R | null> {
    const rows = await this.many(`WHERE ${where}`, params);
    return rows[0] ?? null;
  }

  async many(whereAndOrder: string, params: readonly SqlValue[] = []): Promise<R[]> {
    return (await this.db.query(`SELECT * FROM ${this.name} ${whereAndOrder}`, params)) as unknown as R[];
  }

  /** Rows whose `column` is one of `values`, fetched in chunks that stay under both databases' parameter limits. */
  async whereIn(column: string, values: readonly SqlValue[]): Promise<R[]> {
    const out: R[] = [];
    for (let at = 0; at < values.length; at += IN_LIST_CHUNK) {
      const chunk = values.slice(at, at + IN_LIST_CHUNK);
      out.push(...(await this.many(`WHERE ${column} IN (${chunk.map(() => "?").join(", ")})`, chunk)));
    }
    return out;
  }

  /** `SELECT *` filtered by the columns whose value is given, in `order`. */
  async filtered(filter: Record<string, SqlValue | undefined>, order: string): Promise<R[]> {
    const given = Object.entries(filter).filter(([, v]) => v !== undefined) as [string, SqlValue][];
    const where = given.length ? `WHERE ${given.map(([c]) => `${c} = ?`).join(" AND ")} ` : "";
    return this.many(`${where}ORDER BY ${order}`, given.map(([, v]) => v));
  }

  /** Sets the columns `spec` maps from the patch's defined fields; unknown fields are ignored. */
  async patch(id: string, patch: object, spec: PatchSpec): Promise<void> {
    const { sets, params } = setClauses(patch, spec);
    if (sets.length === 0) return;
    await this.db.run(`UPDATE ${this.name} SET ${sets.join(", ")} WHERE ${this.key} = ?`, [...params, id]);
  }

  async delete(id: string): Promise<void> {
    try {
      await this.db.run(`DELETE FROM ${this.name} WHERE ${this.key} = ?`, [id]);
    } catch (err) {
      throw (await this.explainStillReferenced(err, id)) ?? err;
    }
  }

  private async foreignKeys(): Promise<{ table: string; column: string; parent: string; parentColumn: string }[]> {
    if (this.db.dialect === "postgres") return [];
    const tables = (await this.db.query<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")).map((t) => t.name);
    const keys = [];
    for (const table of tables) {
      const rows = await this.db.query<{ table: string; from: string; to: string | null }>("SELECT * FROM pragma_foreign_key_list(?)", [table]);
      for (const r of rows) keys.push({ table, column: r.from, parent: r.table, parentColumn: r.to ?? "id" });
    }
    return keys;
  }

  private async explainMissingParent(err: unknown, row: R): Promise<StoreConstraintError | null> {
    if (!(err instanceof StoreConstraintError) || err.column) return null;
    for (const fk of await this.foreignKeys()) {
      const value = (row as SqlRow)[fk.column];
      if (fk.table !== this.name || value === null || value === undefined) continue;
      if ((await this.db.query(`SELECT 1 FROM ${fk.parent} WHERE ${fk.parentColumn} = ?`, [value as SqlValue])).length === 0) {
        return new StoreConstraintError(`${this.name}.${fk.column}: no ${fk.parent} row with ${fk.parentColumn} ${JSON.stringify(value)}`, fk.column);
      }
    }
    return null;
  }

  private async explainStillReferenced(err: unknown, id: string): Promise<StoreConstraintError | null> {
    if (!(err instanceof StoreConstraintError) || err.column) return null;
    for (const fk of await this.foreignKeys()) {
      if (fk.parent !== this.name || fk.parentColumn !== this.key) continue;
      if ((await this.db.query(`SELECT 1 FROM ${fk.table} WHERE ${fk.column} = ? LIMIT 1`, [id])).length) {
        return new StoreConstraintError(`${this.name} ${JSON.stringify(id)} is still referenced by ${fk.table}.${fk.column}`, fk.column);
      }
    }
    return null;
  }
}

/** The `column = ?` assignments, and their values, for a patch's defined fields that `spec` maps. */
export function setClauses(patch: object, spec: PatchSpec): { sets: string[]; params: SqlValue[] } {
  const sets: string[] = [];
  const params: SqlValue[] = [];
  for (const [field, value] of Object.entries(patch)) {
    // undefined means "leave as is"; null clears a nullable column.
    if (value === undefined || !Object.hasOwn(spec, field)) continue;
    const [column, encode] = spec[field];
    sets.push(`${column} = ?`);
    params.push(encode(value) as SqlValue);
  }
  return { sets, params };
}
