import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Datastore } from "../model";
import { observeStore, openSqliteStore, type SqliteStore, type StoreWrite } from ".";

let dir: string;
let raw: SqliteStore;
let reported: StoreWrite[][];
let calls: string[];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "clonefleet-observed-"));
  raw = openSqliteStore(path.join(dir, "inventory.db"));
  reported = [];
  calls = [];
});

afterEach(() => {
  raw.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const ds = (id: string, name: string): Datastore => ({ id, name, path: `/srv/${name}`, createdAt: "2025-01-01T00:00:00.000Z" });
const observed = () => observeStore(raw, { committed: (w) => reported.push(w), call: (m) => calls.push(m) });
const summary = () => reported.map((batch) => batch.map((w) => `${w.action} ${w.kind} ${w.id}`));

test("a write outside a transaction is reported at once; a transaction's writes together once it commits", () => {
  const store = observed();
  store.insertDatastore(ds("ds-1", "one"));
  expect(summary()).toEqual([["created datastore ds-1"]]);
  store.tx((s) => {
    s.insertDatastore(ds("ds-2", "two"));
    s.deleteDatastore("ds-1");
    expect(reported).toHaveLength(1);
  });
  expect(summary()).toEqual([["created datastore ds-1"], ["created datastore ds-2", "deleted datastore ds-1"]]);
  expect(calls).toEqual(["insertDatastore", "insertDatastore", "deleteDatastore", "tx"]);
});

test("writes rolled back, by the whole transaction or by a nested one, are never reported", () => {
  const store = observed();
  expect(() =>
    store.tx((s) => {
      s.insertDatastore(ds("ds-1", "one"));
      throw new Error("no");
    }),
  ).toThrow("no");
  expect(reported).toEqual([]);
  expect(raw.listDatastores()).toEqual([]);
  store.tx((s) => {
    s.insertDatastore(ds("ds-2", "two"));
    try {
      s.tx((inner) => {
        inner.insertDatastore(ds("ds-3", "three"));
        throw new Error("inner");
      });
    } catch {
      // the savepoint rolled back; the outer transaction goes on
    }
  });
  expect(summary()).toEqual([["created datastore ds-2"]]);
  expect(raw.listDatastores().map((d) => d.id)).toEqual(["ds-2"]);
});

test("a refused write is not reported and keeps its typed error", () => {
  const store = observed();
  store.insertDatastore(ds("ds-1", "one"));
  expect(() => store.insertDatastore({ ...ds("ds-2", "one"), path: "/srv/other" })).toThrow(expect.objectContaining({ name: "StoreConstraintError", column: "name" }));
  expect(summary()).toEqual([["created datastore ds-1"]]);
});
