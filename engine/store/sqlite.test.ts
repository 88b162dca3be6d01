import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import type { Datastore, DiskLayer, Job, Template } from "../model";
import { LATEST_SCHEMA_VERSION, SchemaTooNewError, StoreConstraintError, openSqliteStore, type SqliteStore } from ".";
import { migrate } from "./migrate";
import { MIGRATIONS } from "./migrations";

let dir: string;
let file: string;
const open: SqliteStore[] = [];

function openStore(): SqliteStore {
  const s = openSqliteStore(file);
  open.push(s);
  return s;
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "clonefleet-store-"));
  file = path.join(dir, "inventory.db");
});

afterEach(() => {
  for (const s of open.splice(0)) s.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function datastore(over: Partial<Datastore> = {}): Datastore {
  return { id: "ds-1", name: "local", path: "/srv/ds1", createdAt: "2025-01-01T00:00:00.000Z", ...over };
}

function layer(over: Partial<DiskLayer> = {}): DiskLayer {
  return {
    id: "layer-1",
    datastoreId: "ds-1",
    path: "/srv/ds1/clonefleet/templates/t1/base.qcow2",
    format: "qcow2",
    virtualSizeBytes: 10 * 1024 ** 3,
    contentId: "0123456789abcdef0123456789abcdef",
    parentContentId: null,
    backingPath: null,
    ownerKind: "template",
    ownerId: "tpl-1",
    state: "ready",
    createdAt: "2025-01-01T00:00:01.000Z",
    ...over,
  };
}

function template(over: Partial<Template> = {}): Template {
  return {
    id: "tpl-1",
    name: "debian",
    datastoreId: "ds-1",
    diskLayerId: "layer-1",
    memoryMb: 512,
    vcpus: 2,
    sourcePath: "/images/debian.qcow2",
    kernelSource: null,
    initrdSource: null,
    kernel: null,
    initrd: null,
    cmdline: null,
    state: "ready",
    createdAt: "2025-01-01T00:00:02.000Z",
    ...over,
  };
}

function job(over: Partial<Job> = {}): Job {
  return {
    id: "job-1",
    kind: "template.create",
    state: "queued",
    progress: { unit: "steps", done: 0, total: 3 },
    idempotencyKey: null,
    request: { name: "debian", sourcePath: "/images/debian.qcow2", memoryMb: 512 },
    intent: null,
    result: null,
    error: null,
    targetId: null,
    cancelRequested: false,
    createdAt: "2025-01-01T00:00:03.000Z",
    startedAt: null,
    finishedAt: null,
    hostId: null,
    ...over,
  };
}

/** Runs `fn` and returns the StoreConstraintError it throws, failing the test otherwise. */
function constraintError(fn: () => void): StoreConstraintError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StoreConstraintError);
    return err as StoreConstraintError;
  }
  throw new Error("expected a StoreConstraintError");
}

function seed(s: SqliteStore): void {
  s.tx(() => {
    s.insertDatastore(datastore());
    s.insertLayer(layer());
    s.insertTemplate(template());
  });
}

describe("migrations", () => {
  test("apply once and are idempotent on reopen", () => {
    openStore().close();
    const raw = new Database(file);
    const first = raw.prepare("SELECT version, name, applied_at FROM schema_migrations ORDER BY version").all();
    raw.close();
    expect(first.map((r) => (r as { version: number }).version)).toEqual(MIGRATIONS.map((m) => m.version));

    const s = openStore();
    expect(s.connectionInfo().schemaVersion).toBe(LATEST_SCHEMA_VERSION);
    s.close();
    const again = new Database(file);
    expect(again.prepare("SELECT version, name, applied_at FROM schema_migrations ORDER BY version").all()).toEqual(first);
    again.close();
  });

  test("apply only pending versions, each in its own transaction", () => {
    openStore().close();
    const db = new Database(file);
    try {
      // Versions above whatever the code ships, so the test holds as migrations are appended.
      const v = LATEST_SCHEMA_VERSION;
      const next = [...MIGRATIONS, { version: v + 1, name: "t1", up: "CREATE TABLE t_one (id TEXT PRIMARY KEY)" }];
      expect(migrate(db, next)).toEqual({ from: v, to: v + 1, applied: [v + 1] });
      expect(migrate(db, next)).toEqual({ from: v + 1, to: v + 1, applied: [] });

      const broken = [
        ...next,
        { version: v + 2, name: "ok", up: "CREATE TABLE t_two (id TEXT PRIMARY KEY)" },
        { version: v + 3, name: "broken", up: "CREATE TABLE t_three (id TEXT PRIMARY KEY); INSERT INTO nowhere VALUES (1)" },
      ];
      expect(() => migrate(db, broken)).toThrow(/nowhere/);
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all();
      expect(tables).toContain("t_two");
      expect(tables).not.toContain("t_three");
      expect(db.prepare("SELECT MAX(version) FROM schema_migrations").pluck().get()).toBe(v + 2);
    } finally {
      db.close();
    }
  });

  test("refuse a list out of order", () => {
    const db = new Database(":memory:");
    try {
      const bad = [MIGRATIONS[0], { ...MIGRATIONS[0], name: "again" }];
      expect(() => migrate(db, bad)).toThrow(/version 1 must be an integer above 1/);
    } finally {
      db.close();
    }
  });

  test("a database from a newer clonefleet is refused and left as it was", () => {
    openStore().close();
    const raw = new Database(file);
    raw.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 'x')").run();
    raw.close();

    let thrown: unknown;
    try {
      openSqliteStore(file);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(SchemaTooNewError);
    expect((thrown as SchemaTooNewError).message).toContain(`version 99 is newer than this clonefleet knows (${LATEST_SCHEMA_VERSION})`);
    expect(thrown).toMatchObject({ databaseVersion: 99, codeVersion: LATEST_SCHEMA_VERSION });

    // The handle was closed and nothing was changed.
    const after = new Database(file);
    expect(after.prepare("SELECT MAX(version) FROM schema_migrations").pluck().get()).toBe(99);
    after.close();
  });
});

describe("connection", () => {
  test("runs in WAL mode with foreign keys, busy timeout and synchronous=NORMAL", () => {
    const s = openStore();
    expect(s.connectionInfo()).toEqual({
      file,
      journalMode: "wal",
      foreignKeys: true,
      busyTimeoutMs: 5000,
      synchronous: "normal",
      schemaVersion: LATEST_SCHEMA_VERSION,
    });
    s.insertDatastore(datastore());
    expect(fs.existsSync(`${file}-wal`)).toBe(true);

    // WAL is a property of the file: another connection sees it too.
    const raw = new Database(file);
    expect(raw.pragma("journal_mode", { simple: true })).toBe("wal");
    raw.close();
  });

  test("data survives close and reopen", () => {
    const s = openStore();
    seed(s);
    s.insertJob(job({ intent: { files: ["/a", "/b"] } }));
    s.setSetting("host_name", "node-1");
    s.close();

    const t = openStore();
    expect(t.getDatastore("ds-1")).toEqual(datastore());
    expect(t.getLayer("layer-1")).toEqual(layer());
    expect(t.getTemplate("tpl-1")).toEqual(template());
    expect(t.getJob("job-1")).toEqual(job({ intent: { files: ["/a", "/b"] } }));
    expect(t.getSetting("host_name")).toBe("node-1");
  });

  test("two connections on one file see each other's commits", () => {
    const a = openStore();
    const b = openStore();
    a.insertDatastore(datastore());
    expect(b.getDatastore("ds-1")).toEqual(datastore());
  });

  test("close is idempotent and later calls throw", () => {
    const s = openStore();
    s.close();
    s.close();
    expect(() => s.getDatastore("ds-1")).toThrow(/not open/);
  });
});

describe("datastores", () => {
  test("round trip, lookups and delete", () => {
    const s = openStore();
    s.insertDatastore(datastore());
    s.insertDatastore(datastore({ id: "ds-2", name: "alpha", path: "/srv/ds2" }));
    expect(s.getDatastore("ds-1")).toEqual(datastore());
    expect(s.findDatastoreByName("alpha")?.id).toBe("ds-2");
    expect(s.findDatastoreByName("nope")).toBeNull();
    expect(s.getDatastore("nope")).toBeNull();
    expect(s.listDatastores().map((d) => d.name)).toEqual(["alpha", "local"]);
    s.deleteDatastore("ds-2");
    s.deleteDatastore("ds-2");
    expect(s.listDatastores()).toEqual([datastore()]);
  });
});

describe("disk layers", () => {
  test("round trip with and without nulls, lookups and filters", () => {
    const s = openStore();
    s.insertDatastore(datastore());
    s.insertDatastore(datastore({ id: "ds-2", name: "other", path: "/srv/ds2" }));
    const base = layer();
    const delta = layer({
      id: "layer-2",
      path: "/srv/ds1/clonefleet/vms/vm-1/disk.qcow2",
      virtualSizeBytes: 2 ** 40 + 7,
      contentId: "ffffffffffffffffffffffffffffffff",
      parentContentId: base.contentId,
      backingPath: base.path,
      ownerKind: "vm",
      ownerId: "vm-1",
      state: "drifted",
      createdAt: "2025-01-01T00:00:05.000Z",
    });
    const replica = layer({ id: "layer-3", datastoreId: "ds-2", path: "/srv/ds2/clonefleet/r/base.qcow2", ownerKind: "replica", ownerId: "r-1" });
    s.tx(() => [base, delta, replica].forEach((l) => s.insertLayer(l)));

    expect(s.getLayer("layer-1")).toEqual(base);
    expect(s.getLayer("layer-2")).toEqual(delta);
    expect(s.getLayer("nope")).toBeNull();
    expect(s.findLayerByPath(delta.path)).toEqual(delta);
    expect(s.findLayerByPath("/nope")).toBeNull();
    expect(s.findLayersByContentId(base.contentId).map((l) => l.id)).toEqual(["layer-1", "layer-3"]);
    expect(s.listLayers().map((l) => l.id)).toEqual(["layer-1", "layer-3", "layer-2"]);
    expect(s.listLayers({ datastoreId: "ds-1" }).map((l) => l.id)).toEqual(["layer-1", "layer-2"]);
    expect(s.listLayers({ ownerKind: "vm" }).map((l) => l.id)).toEqual(["layer-2"]);
    expect(s.listLayers({ ownerKind: "template", ownerId: "tpl-1", datastoreId: "ds-1" }).map((l) => l.id)).toEqual(["layer-1"]);
    expect(s.listLayers({ ownerId: "nobody" })).toEqual([]);
  });

  test("update changes only the patched fields and ignores the rest", () => {
    const s = openStore();
    s.insertDatastore(datastore());
    s.insertLayer(layer({ parentContentId: "aa".repeat(16), backingPath: "/srv/ds1/base.qcow2" }));
    s.updateLayer("layer-1", { contentId: "bb".repeat(16), parentContentId: null, backingPath: null, state: "drifted" });
    expect(s.getLayer("layer-1")).toEqual(layer({ contentId: "bb".repeat(16), state: "drifted" }));

    // A whole record passed as a patch must not move id, owner or creation time.
    const whole = { ...layer({ id: "other", ownerId: "x", createdAt: "2030" }), path: "/srv/ds1/moved.qcow2", virtualSizeBytes: 42 };
    s.updateLayer("layer-1", whole);
    expect(s.getLayer("layer-1")).toEqual(layer({ path: "/srv/ds1/moved.qcow2", virtualSizeBytes: 42 }));

    s.updateLayer("layer-1", {});
    s.updateLayer("nope", { state: "ready" });
    expect(s.getLayer("nope")).toBeNull();
    s.deleteLayer("layer-1");
    expect(s.getLayer("layer-1")).toBeNull();
  });
});

describe("templates", () => {
  test("round trip with and without nulls, filters, state and delete", () => {
    const s = openStore();
    seed(s);
    const full = template({
      id: "tpl-2",
      name: "alpine",
      kernelSource: "/boot/vmlinuz",
      initrdSource: "/boot/initrd.img",
      kernel: "/srv/ds/clonefleet/templates/tpl-2/kernel",
      initrd: "/srv/ds/clonefleet/templates/tpl-2/initrd",
      cmdline: "console=ttyS0 quiet",
      memoryMb: 16384,
      vcpus: 8,
    });
    s.insertTemplate(full);
    expect(s.getTemplate("tpl-1")).toEqual(template());
    expect(s.getTemplate("tpl-2")).toEqual(full);
    expect(s.getTemplate("nope")).toBeNull();
    expect(s.findTemplateByName("alpine")).toEqual(full);
    expect(s.findTemplateByName("nope")).toBeNull();
    expect(s.listTemplates().map((t) => t.name)).toEqual(["alpine", "debian"]);
    expect(s.listTemplates({ datastoreId: "ds-1" })).toHaveLength(2);
    expect(s.listTemplates({ datastoreId: "ds-2" })).toEqual([]);

    s.setTemplateState("tpl-2", "drifted");
    expect(s.getTemplate("tpl-2")?.state).toBe("drifted");
    s.deleteTemplate("tpl-2");
    expect(s.getTemplate("tpl-2")).toBeNull();
  });
});

describe("jobs", () => {
  test("round trip keeps JSON, nulls and booleans", () => {
    const s = openStore();
    const done = job({
      id: "job-2",
      state: "failed",
      progress: { unit: "bytes", done: 1024, total: 4096, message: "copying base.qcow2" },
      idempotencyKey: "key-1",
      request: { names: ["a", "b"], nested: { n: 1, flag: true, none: null } },
      intent: { files: ["/srv/ds1/x.qcow2.tmp"] },
      result: "plain string",
      error: { code: "CF_INTERNAL", message: "qemu-img convert: exit 1", field: "source_path" },
      targetId: "tpl-9",
      cancelRequested: true,
      startedAt: "2025-01-01T00:00:04.000Z",
      finishedAt: "2025-01-01T00:00:09.000Z",
    });
    s.insertJob(job());
    s.insertJob(done);
    expect(s.getJob("job-1")).toEqual(job());
    expect(s.getJob("job-2")).toEqual(done);
    expect(s.getJob("nope")).toBeNull();
    expect(s.findJobByIdempotencyKey("key-1")).toEqual(done);
    expect(s.findJobByIdempotencyKey("nope")).toBeNull();
  });

  test("update patches fields and clears with null", () => {
    const s = openStore();
    s.insertJob(job({ intent: { files: ["/a"] } }));
    s.updateJob("job-1", {
      state: "running",
      progress: { unit: "bytes", done: 5, total: 10 },
      startedAt: "2025-01-01T00:01:00.000Z",
      cancelRequested: true,
      targetId: "vm-1",
    });
    expect(s.getJob("job-1")).toEqual(
      job({
        intent: { files: ["/a"] },
        state: "running",
        progress: { unit: "bytes", done: 5, total: 10 },
        startedAt: "2025-01-01T00:01:00.000Z",
        cancelRequested: true,
        targetId: "vm-1",
      }),
    );
    // undefined leaves a field as it is; null clears it.
    s.updateJob("job-1", { result: { vmIds: ["vm-1"] }, state: "succeeded", cancelRequested: false, intent: undefined });
    expect(s.getJob("job-1")?.intent).toEqual({ files: ["/a"] });
    s.updateJob("job-1", { intent: null, error: null, finishedAt: "2025-01-01T00:02:00.000Z" });
    const j = s.getJob("job-1");
    expect(j).toMatchObject({ intent: null, result: { vmIds: ["vm-1"] }, state: "succeeded", cancelRequested: false, error: null });
    expect(j?.finishedAt).toBe("2025-01-01T00:02:00.000Z");
  });

  test("list newest first, filter by state, limit", () => {
    const s = openStore();
    s.tx(() => {
      s.insertJob(job({ id: "a", createdAt: "2025-01-01T00:00:01.000Z", state: "succeeded" }));
      s.insertJob(job({ id: "b", createdAt: "2025-01-01T00:00:03.000Z", state: "running" }));
      // Same timestamp as b: insertion order breaks the tie, later first.
      s.insertJob(job({ id: "c", createdAt: "2025-01-01T00:00:03.000Z", state: "queued" }));
      s.insertJob(job({ id: "d", createdAt: "2025-01-01T00:00:02.000Z", state: "failed" }));
    });
    expect(s.listJobs().map((j) => j.id)).toEqual(["c", "b", "d", "a"]);
    expect(s.listJobs({ states: ["queued", "running"] }).map((j) => j.id)).toEqual(["c", "b"]);
    expect(s.listJobs({ states: ["failed"] }).map((j) => j.id)).toEqual(["d"]);
    expect(s.listJobs({ limit: 2 }).map((j) => j.id)).toEqual(["c", "b"]);
    expect(s.listJobs({ states: ["succeeded", "failed"], limit: 1 }).map((j) => j.id)).toEqual(["d"]);
    expect(s.listJobs({ limit: 0 })).toEqual([]);
    expect(s.listJobs({ states: [] })).toEqual([]);
    expect(() => s.listJobs({ limit: -1 })).toThrow(RangeError);
    expect(() => s.listJobs({ limit: 1.5 })).toThrow(RangeError);
  });

  test("jobs without an idempotency key do not clash", () => {
    const s = openStore();
    s.insertJob(job({ id: "a" }));
    s.insertJob(job({ id: "b" }));
    expect(s.listJobs()).toHaveLength(2);
  });
});

describe("settings", () => {
  test("get, set and overwrite", () => {
    const s = openStore();
    expect(s.getSetting("host_name")).toBeNull();
    s.setSetting("host_name", "node-1");
    s.setSetting("host_name", "node-2");
    s.setSetting("empty", "");
    expect(s.getSetting("host_name")).toBe("node-2");
    expect(s.getSetting("empty")).toBe("");
  });
});

describe("constraints", () => {
  test("unique violations name the column", () => {
    const s = openStore();
    seed(s);
    s.insertJob(job({ idempotencyKey: "k" }));

    expect(constraintError(() => s.insertDatastore(datastore({ id: "ds-2", path: "/other" }))).column).toBe("name");
    expect(constraintError(() => s.insertDatastore(datastore({ id: "ds-2", name: "other" }))).column).toBe("path");
    expect(constraintError(() => s.insertDatastore(datastore({ name: "other", path: "/other" }))).column).toBe("id");
    expect(constraintError(() => s.insertTemplate(template({ id: "tpl-2" }))).column).toBe("name");
    expect(constraintError(() => s.insertLayer(layer({ id: "layer-2" }))).column).toBe("path");
    expect(constraintError(() => s.insertJob(job({ id: "job-2", idempotencyKey: "k" }))).column).toBe("idempotency_key");

    s.insertLayer(layer({ id: "layer-2", path: "/srv/ds1/two.qcow2" }));
    const err = constraintError(() => s.updateLayer("layer-2", { path: layer().path }));
    expect(err.column).toBe("path");
    expect(err.message).toBe("UNIQUE constraint failed: disk_layers.path");
    expect(s.getLayer("layer-2")?.path).toBe("/srv/ds1/two.qcow2");
  });

  test("foreign-key violations name the column", () => {
    const s = openStore();
    seed(s);

    const noDs = constraintError(() => s.insertLayer(layer({ id: "layer-2", path: "/x", datastoreId: "ghost" })));
    expect(noDs.column).toBe("datastore_id");
    expect(noDs.message).toMatch(/disk_layers\.datastore_id: no datastores row with id "ghost"/);
    expect(constraintError(() => s.insertTemplate(template({ id: "tpl-2", name: "b", diskLayerId: "ghost" }))).column).toBe("disk_layer_id");
    expect(constraintError(() => s.insertTemplate(template({ id: "tpl-2", name: "b", datastoreId: "ghost" }))).column).toBe("datastore_id");

    const inUse = constraintError(() => s.deleteDatastore("ds-1"));
    expect(inUse.column).toBe("datastore_id");
    expect(inUse.message).toMatch(/datastores "ds-1" is still referenced by/);
    expect(constraintError(() => s.deleteLayer("layer-1")).column).toBe("disk_layer_id");

    expect(s.getDatastore("ds-1")).not.toBeNull();
    expect(s.getLayer("layer-1")).not.toBeNull();
    expect(s.getLayer("layer-2")).toBeNull();
  });

  test("other constraint failures are not StoreConstraintError", () => {
    const s = openStore();
    seed(s);
    let thrown: unknown;
    try {
      s.insertTemplate(template({ id: "tpl-2", name: "b", memoryMb: 0 }));
    } catch (err) {
      thrown = err;
    }
    // By name: with several test files in one jest worker the addon may throw another copy's class.
    expect((thrown as Error).name).toBe("SqliteError");
    expect(thrown).not.toBeInstanceOf(StoreConstraintError);
  });

  test("a constraint error caught inside tx leaves the rest of the transaction intact", () => {
    const s = openStore();
    s.tx(() => {
      s.insertDatastore(datastore());
      expect(() => s.insertDatastore(datastore({ id: "ds-2" }))).toThrow(StoreConstraintError);
      s.insertDatastore(datastore({ id: "ds-3", name: "third", path: "/srv/ds3" }));
    });
    expect(s.listDatastores().map((d) => d.id)).toEqual(["ds-1", "ds-3"]);
  });
});

describe("transactions", () => {
  test("a throw rolls back every write in the transaction", () => {
    const s = openStore();
    const boom = new Error("boom");
    expect(() =>
      s.tx((t) => {
        t.insertDatastore(datastore());
        t.insertLayer(layer());
        t.insertTemplate(template());
        t.insertJob(job());
        t.setSetting("k", "v");
        throw boom;
      }),
    ).toThrow(boom);
    expect(s.listDatastores()).toEqual([]);
    expect(s.listLayers()).toEqual([]);
    expect(s.listTemplates()).toEqual([]);
    expect(s.listJobs()).toEqual([]);
    expect(s.getSetting("k")).toBeNull();
  });

  test("returns the function's value and commits", () => {
    const s = openStore();
    const n = s.tx((t) => {
      t.insertDatastore(datastore());
      return t.listDatastores().length;
    });
    expect(n).toBe(1);
    expect(s.getDatastore("ds-1")).not.toBeNull();
  });

  test("nested tx joins the outer one: an outer throw undoes the inner writes", () => {
    const s = openStore();
    expect(() =>
      s.tx((outer) => {
        outer.insertDatastore(datastore());
        outer.tx((inner) => inner.insertLayer(layer()));
        expect(outer.getLayer("layer-1")).not.toBeNull();
        throw new Error("later failure");
      }),
    ).toThrow("later failure");
    expect(s.getDatastore("ds-1")).toBeNull();
    expect(s.getLayer("layer-1")).toBeNull();
  });

  test("nested tx is a savepoint: an inner throw caught outside undoes only the inner writes", () => {
    const s = openStore();
    s.tx((outer) => {
      outer.insertDatastore(datastore());
      expect(() =>
        outer.tx((inner) => {
          inner.insertLayer(layer());
          throw new Error("inner");
        }),
      ).toThrow("inner");
      outer.insertDatastore(datastore({ id: "ds-2", name: "b", path: "/b" }));
    });
    expect(s.listDatastores().map((d) => d.id)).toEqual(["ds-2", "ds-1"]);
    expect(s.getLayer("layer-1")).toBeNull();
  });

  test("an async function is refused and its synchronous writes rolled back", () => {
    const s = openStore();
    const attempt = () =>
      s.tx(async (t) => {
        t.insertDatastore(datastore());
      });
    expect(attempt).toThrow(/cannot return a promise/);
    expect(s.getDatastore("ds-1")).toBeNull();
  });
});
