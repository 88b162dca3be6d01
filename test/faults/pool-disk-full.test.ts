import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import type { PoolWire } from "../../engine/client";
import { startTestEngine, type TestEngine } from "../support/engine";
import { eventually, expectOneOwnerPerFile, filesUnder, importTemplate, isStandaloneSoundQcow2, makeDataImage } from "../support/clones";

const run = promisify(execFile);
const MiB = 2 ** 20;

// Mounting a small filesystem needs root; elsewhere this test cannot make a disk fill up.
const asRoot = typeof process.getuid === "function" && process.getuid() === 0;

(asRoot ? describe : describe.skip)("disk full while pre-copying into a pool", () => {
  let dir: string;
  let small: string;
  let mounted = false;
  let t: TestEngine | null = null;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-full-"));
    small = path.join(dir, "small");
    await fs.mkdir(small);
    await run("mount", ["-t", "tmpfs", "-o", "size=40m", "tmpfs", small]);
    mounted = true;
  });
  afterAll(async () => {
    await t?.stop();
    if (mounted) await run("umount", [small]);
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("fails clearly, leaves nothing partial, backs off without spinning and fills once there is room", async () => {
    t = await startTestEngine({ dir, engine: { pools: { concurrency: 1, retryBaseMs: 500, retryMaxMs: 2000, intervalMs: 100 } } });
    const big = (await t.client.datastores.create({ name: "big", path: path.join(dir, "big") })).id;
    const full = (await t.client.datastores.create({ name: "small", path: small })).id;
    const tpl = await importTemplate(t.client, "base", big, await makeDataImage(path.join(dir, "src.raw"), 32, 8));
    // Ballast leaves room for three copies of ~8 MiB but not four.
    const ballast = path.join(small, "ballast");
    await fs.writeFile(ballast, Buffer.alloc(14 * MiB, 1));

    const pool = await t.client.pools.create({ template_id: tpl.id, datastore_id: full, size: 4 });
    const failed = await eventually(async () => {
      const p = (await t!.client.pools.get(pool.id))!;
      return p.last_error ? p : null;
    }, 30_000, "a fill to fail");
    expect(failed.last_error).toMatchObject({ code: "CF_NO_SPACE", message: expect.stringContaining("no space left") });
    expect(failed.last_error!.message).toContain(pool.id);
    expect(failed.ready).toBe(3);
    for (const c of failed.copies) expect(await isStandaloneSoundQcow2(c.path)).toBe(true);

    // Nothing partial: once the failed fill is cleaned up, tmp holds no file and the pool
    // folder only the three good copies.
    const waiting = await eventually(async () => {
      const p = (await t!.client.pools.get(pool.id))!;
      return p.filling === 0 && p.state === "waiting" ? p : null;
    }, 10_000, "the pool to back off");
    expect(await filesUnder(path.join(small, "clonefleet", "tmp"))).toEqual([]);
    expect(await filesUnder(path.join(small, "clonefleet", "pools"))).toEqual(waiting.copies.map((c) => c.path).sort());
    expect(waiting.retry_at).not.toBeNull();

    // Without spinning: over 2.5 s with a 0.5 s base that doubles (capped at 2 s), at most a
    // handful of attempts, never one per pass of the 100 ms loop.
    const firstFailures = waiting.failures;
    await new Promise((r) => setTimeout(r, 2500));
    const later = (await t.client.pools.get(pool.id))!;
    expect(later.failures - firstFailures).toBeLessThanOrEqual(3);
    expect(later.ready).toBe(3);

    // Room appears: a later retry fills the pool by itself and clears the error.
    await fs.rm(ballast);
    const filled = await eventually(async () => {
      const p = (await t!.client.pools.get(pool.id))!;
      return p.ready === 4 && p.filling === 0 ? p : null;
    }, 30_000, "the pool to fill once there is room");
    expect(filled).toMatchObject({ last_error: null, failures: 0, retry_at: null, state: "ready" });
    await expectOneOwnerPerFile(t.client, [path.join(dir, "big"), small]);
  });

  it("fleet copies that run out of space fail with CF_NO_SPACE, leave no partial file and keep the members made", async () => {
    const client = t!.client;
    const [big, full] = (await client.datastores.list()).sort((a, b) => a.name.localeCompare(b.name));
    const tpl = (await client.templates.list())[0];
    const pool = (await client.pools.list())[0] as PoolWire;
    await client.pools.resize(pool.id, 0);
    // Each fleet fits alone, so both pass placement when they measure at the same time; together
    // they do not, and the copies themselves fill the disk.
    const jobs = await Promise.all(
      ["tight-a", "tight-b"].map((prefix) =>
        client.fleets.create({ template_id: tpl.id, size: 3, datastore_ids: [full.id], name_prefix: prefix, clone_mode: "full" }),
      ),
    );
    const outcomes = await Promise.all(jobs.map((j) => client.waitJob(j.id).then(() => null, (err: { code?: string; message?: string }) => err)));
    const failures = outcomes.filter((o) => o !== null);
    expect(failures.length).toBeGreaterThanOrEqual(1);
    for (const f of failures) expect(f).toMatchObject({ code: "CF_NO_SPACE" });
    expect(await filesUnder(path.join(small, "clonefleet", "tmp"))).toEqual([]);
    for (const j of jobs) {
      const fleet = (await client.fleets.get(j.target_id!))!;
      expect(fleet.vms.every((v) => v.state === "ready")).toBe(true);
      for (const v of fleet.vms) expect(await isStandaloneSoundQcow2(v.disk_path)).toBe(true);
    }
    await expectOneOwnerPerFile(client, [big.path, full.path]);
  });
});
