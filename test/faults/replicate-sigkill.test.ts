import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { readCatalog } from "../../engine/disk";
import type { ReplicaWire } from "../../engine/client";
import { filesUnder, makeChain, sameContent, type TestChain } from "../support/chains";
import { spawnEngine, type EngineProcess } from "../support/engine-process";

/** The files under a datastore's engine folder, catalog.json left out. */
async function engineFiles(root: string): Promise<string[]> {
  return (await filesUnder(path.join(root, "clonefleet"))).filter((f) => path.basename(f) !== "catalog.json");
}

/** Waits until `ready()` holds (polling every 20 ms), or fails after `ms`. */
async function until(what: string, ready: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await ready()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("SIGKILL in the middle of a replication", () => {
  let dir: string;
  let engine: EngineProcess | null = null;
  let stateDir: string;
  let srcPath: string;
  let dstPath: string;
  let chain: TestChain;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-repkill-"));
    stateDir = path.join(dir, "state");
    srcPath = path.join(dir, "src");
    dstPath = path.join(dir, "dst");
    // The middle is the big layer, so a kill lands while it is copied: the base (copied first,
    // bottom up) is then already renamed into place without any record.
    chain = await makeChain(path.join(srcPath, "disks"), { virtualMb: 64, baseMb: 4, deltaMb: 24 });
  });
  afterAll(async () => {
    await engine?.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const partials = async () => (await fs.readdir(path.join(dstPath, "clonefleet", "tmp")).catch(() => [])).filter((f) => f.endsWith(".part"));

  it("leaves no partial layer on the target, and the catalog matches the files after restart", async () => {
    // A bandwidth cap makes each copy take seconds, so the kill lands while one runs.
    engine = await spawnEngine(stateDir, ["--copy-rate-limit", "8M"]);
    const src = await engine.client.datastores.create({ name: "src", path: srcPath });
    const dst = await engine.client.datastores.create({ name: "dst", path: dstPath });
    await engine.client.disks.register(chain.top);
    const srcCatalogBefore = await readCatalog(srcPath);

    const job = await engine.client.replicas.create({ source_disk_path: chain.top, target_datastore_id: dst.id });
    await until("a layer in place and the next one half-copied", async () => {
      const placed = (await filesUnder(path.join(dstPath, "clonefleet", "replicas"))).length;
      return placed >= 1 && (await partials()).length === 1 && (await engine!.client.jobs.get(job.id)).state === "running";
    });
    await engine.kill();
    expect((await engineFiles(dstPath)).length).toBeGreaterThanOrEqual(2);

    engine = await spawnEngine(stateDir);
    const after = await engine.client.jobs.get(job.id);
    expect(after.state).toBe("failed");
    expect(after.error?.code).toBe("CF_INTERRUPTED");
    expect(await engine.client.replicas.list()).toEqual([]);
    expect(await engineFiles(dstPath)).toEqual([]);
    expect(await readCatalog(dstPath)).toEqual([]);
    // The source is untouched.
    expect(await readCatalog(srcPath)).toEqual(srcCatalogBefore);
    expect((await engine.client.datastores.get(src.id))?.id).toBe(src.id);

    // Replicating again works, and the catalog lists exactly the files there.
    const again = await engine.client.replicas.create({ source_disk_path: chain.top, target_datastore_id: dst.id, verify: true });
    const r = (await engine.client.waitJob(again.id)).result as ReplicaWire;
    expect(r.layers_copied).toBe(3);
    expect(await sameContent(chain.top, r.disk_path)).toBe(true);
    expect((await readCatalog(dstPath)).map((e) => e.path).sort()).toEqual(await engineFiles(dstPath));
  });

  it("a repair killed midway leaves the replica as it was (drifted), its other layers intact", async () => {
    const [r] = await engine!.client.replicas.list();
    const middle = r.chain[1];
    await fs.rm(middle.path);
    await engine!.stop();

    engine = await spawnEngine(stateDir, ["--copy-rate-limit", "8M"]);
    // The restart noticed the vanished layer.
    expect(((await engine.client.engine()).last_recovery as { driftedReplicas: string[] }).driftedReplicas).toEqual([r.id]);
    const job = await engine.client.replicas.repair(r.id);
    await until("the middle half-copied", async () => (await partials()).length === 1 && (await engine!.client.jobs.get(job.id)).state === "running");
    await engine.kill();

    engine = await spawnEngine(stateDir);
    const after = await engine.client.jobs.get(job.id);
    expect([after.state, after.error?.code]).toEqual(["failed", "CF_INTERRUPTED"]);
    expect(await partials()).toEqual([]);
    const drifted = await engine.client.replicas.get(r.id);
    expect(drifted?.state).toBe("drifted");
    expect(drifted?.drift).toEqual([{ position: 1, path: middle.path, reason: "the file is gone" }]);
    expect(await engineFiles(dstPath)).toEqual([r.chain[0].path, r.chain[2].path].sort());
    expect((await readCatalog(dstPath)).map((e) => e.path).sort()).toEqual(await engineFiles(dstPath));

    const repaired = (await engine.client.waitJob((await engine.client.replicas.repair(r.id)).id)).result as ReplicaWire;
    expect(repaired.last_run.copied.map((c) => c.position)).toEqual([1]);
    expect(repaired.state).toBe("ready");
    expect(await sameContent(chain.top, repaired.disk_path)).toBe(true);
    expect((await readCatalog(dstPath)).map((e) => e.path).sort()).toEqual(await engineFiles(dstPath));
  });

  it("a cancelled replication removes what it made", async () => {
    await engine!.stop();
    engine = await spawnEngine(stateDir, ["--copy-rate-limit", "8M"]);
    const otherPath = path.join(dir, "other");
    const other = await engine.client.datastores.create({ name: "other", path: otherPath });
    const job = await engine.client.replicas.create({ source_disk_path: chain.top, target_datastore_id: other.id });
    await until("a copy under way", async () => {
      const parts = (await fs.readdir(path.join(otherPath, "clonefleet", "tmp")).catch(() => [])).filter((f) => f.endsWith(".part"));
      return parts.length === 1;
    });
    await engine.client.jobs.cancel(job.id);
    const ended = await engine.client.jobs.waitOnce(job.id, 30);
    expect([ended.state, ended.error?.code]).toEqual(["cancelled", "CF_CANCELLED"]);
    expect(await engineFiles(otherPath)).toEqual([]);
    expect(await readCatalog(otherPath)).toEqual([]);
    expect(await engine.client.replicas.list(other.id)).toEqual([]);
  });
});
