/**
 * Two hosts that share nothing but the PostgreSQL inventory and a datastore: each engine has its
 * own state folder (its own API token, host credential, QEMU state folders and job leases). Every
 * request may go to either host; the VM's host runs the work, and the agents call each other as
 * themselves, checked against the credential hashes in the inventory.
 */
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import axios from "axios";
import { ClonefleetClient, type MigrateResultWire } from "../../engine/client";
import type { Inventory } from "../../engine/store";
import { openInventory } from "../../engine/store/sql/sql-inventory";
import { apiError } from "../support/api-error";
import { spawnEngine, type EngineProcess } from "../support/engine-process";
import { startPostgresCluster, type PostgresCluster } from "../../scripts/cluster/postgres";
import { createVm, killAllVms, pidGoneSoon, vmFixture } from "../support/vms";
import { waitFor } from "../support/wait";

jest.setTimeout(240_000);

const HEARTBEAT = ["--heartbeat-interval-ms", "250"];

let cluster: PostgresCluster;
let inventory: Inventory;
let dir: string;
let a: EngineProcess;
let b: EngineProcess;
let templateId: string;
let inventoryUrl: string;
const stateOf = (host: "a" | "b") => path.join(dir, host);
const vmsRootOf = (host: "a" | "b") => (host === "a" ? path.join(stateOf("a"), "vms") : path.join(stateOf("b"), "hosts", "b", "vms"));

beforeAll(async () => {
  cluster = await startPostgresCluster();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-pg-hosts-"));
  const url = await cluster.createDatabase("hosts");
  inventoryUrl = url;
  a = await spawnEngine(stateOf("a"), ["--inventory", url, ...HEARTBEAT]);
  b = await spawnEngine(stateOf("b"), ["--inventory", url, "--host-name", "b", ...HEARTBEAT]);
  inventory = await openInventory(url);
  ({ templateId } = await vmFixture(a.client, dir, 256));
}, 120_000);

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await killAllVms(vmsRootOf("a"));
  await killAllVms(vmsRootOf("b"));
  await inventory?.close();
  await cluster?.stop();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

test("each host registers its own folder and its own credential; agents accept a fellow agent only as the host it is", async () => {
  const hosts = await a.client.hosts.list();
  expect(hosts.map((h) => [h.id, h.status, h.state_dir])).toEqual([
    ["b", "up", stateOf("b")],
    ["local", "up", stateOf("a")],
  ]);
  const local = (await inventory.hosts.get("local"))!;
  const hb = (await inventory.hosts.get("b"))!;
  expect(local.tokenHash).toMatch(/^[0-9a-f]{64}$/);
  expect(hb.tokenHash).toMatch(/^[0-9a-f]{64}$/);
  expect(hb.tokenHash).not.toBe(local.tokenHash);

  // Host local's credential opens b's internal routes when shown as host local, and only then.
  const localSecret = (await fs.readFile(path.join(stateOf("a"), "host-token"), "utf8")).trim();
  const call = (as: string) =>
    axios.post(`${b.url}/internal/migrations/abort`, { vm_id: "..", state_dir: stateOf("b") }, {
      headers: { "x-clonefleet-host": as, "x-clonefleet-host-token": localSecret },
      validateStatus: () => true,
      proxy: false,
    });
  const asLocal = await call("local");
  // Past authentication: the request itself is refused for its bad vm_id.
  expect([asLocal.status, asLocal.data.error.field]).toEqual([400, "vm_id"]);
  const asB = await call("b");
  expect([asB.status, asB.data.error.message]).toEqual([401, 'the host credential is wrong for host "b"']);
});

test("a VM on host b is created, started, stopped and deleted through host local's API; b's agent does the work in b's folder", async () => {
  const created = await a.client.vms.create({ name: "far", template_id: templateId, clone_mode: "full", host_id: "b" });
  const vm = (await a.client.waitJob(created.id)).result as { id: string; host_id: string };
  expect(vm.host_id).toBe("b");
  const running = await a.client.vms.start(vm.id);
  expect(running).toMatchObject({ host_id: "b", power_state: "running", state_dir: path.join(vmsRootOf("b"), vm.id) });
  const jobs = await a.client.jobs.list();
  expect(jobs.find((j) => j.kind === "vm.start" && j.target_id === vm.id)?.host_id).toBe("b");
  const stopped = await a.client.vms.stop(vm.id, { timeout_seconds: 0 });
  expect(stopped).toMatchObject({ host_id: "b", power_state: "stopped" });
  expect(await pidGoneSoon(running.pid!)).toBe(true);
  await a.client.vms.delete(vm.id);
  expect(await a.client.vms.get(vm.id)).toBeNull();
  expect(await b.client.vms.get(vm.id)).toBeNull();
});

test("a running VM live-migrates from host local's folder to host b's and back, each source cleaned up", async () => {
  const vm = await createVm(a.client, "mover", templateId);
  const started = await a.client.vms.start(vm.id);
  expect(started.state_dir).toBe(path.join(vmsRootOf("a"), vm.id));

  const there = (await a.client.waitJob((await a.client.vms.migrate(vm.id, { host_id: "b" })).id, { timeoutMs: 120_000 })).result as MigrateResultWire;
  expect([there.source_host_id, there.target_host_id]).toEqual(["local", "b"]);
  const onB = (await b.client.vms.get(vm.id))!;
  expect(onB).toMatchObject({ host_id: "b", power_state: "running", state_dir: path.join(vmsRootOf("b"), vm.id) });
  expect(await pidGoneSoon(started.pid!)).toBe(true);
  await expect(fs.stat(started.state_dir!)).rejects.toThrow();

  // Back again, asked through b's API this time: local's agent is the target.
  const back = (await b.client.waitJob((await b.client.vms.migrate(vm.id, { host_id: "local" })).id, { timeoutMs: 120_000 })).result as MigrateResultWire;
  expect([back.source_host_id, back.target_host_id]).toEqual(["b", "local"]);
  const home = (await a.client.vms.get(vm.id))!;
  expect(home).toMatchObject({ host_id: "local", power_state: "running", state_dir: path.join(vmsRootOf("a"), vm.id) });
  expect(await pidGoneSoon(onB.pid!)).toBe(true);
  await a.client.vms.stop(vm.id, { timeout_seconds: 0 });
});

test("each state folder keeps its own API token: one host's token does not open another's API", async () => {
  const aToken = (await fs.readFile(path.join(stateOf("a"), "token"), "utf8")).trim();
  const bToken = (await fs.readFile(path.join(stateOf("b"), "token"), "utf8")).trim();
  expect(aToken).not.toBe(bToken);
  const err = await apiError(new ClonefleetClient({ endpoint: b.url, token: aToken }).vms.list());
  expect(err).toMatchObject({ status: 401, code: "CF_UNAUTHORIZED" });
});

describe("a datastore of host b's own", () => {
  let own: { id: string; path: string };
  let sharedId: string;

  beforeAll(async () => {
    sharedId = (await a.client.datastores.list()).find((d) => d.shared)!.id;
    const ownPath = path.join(dir, "b-own");
    // Declared through host local's API, made by host b's agent.
    const made = await a.client.datastores.create({ name: "b-own", path: ownPath, host_id: "b" });
    expect(made).toMatchObject({ shared: false, host_id: "b", path: ownPath });
    own = made;
    const job = (await a.client.jobs.list()).find((j) => j.kind === "datastore.create" && j.target_id === made.id)!;
    expect(job.host_id).toBe("b");
  });

  test("bad declarations are refused naming the field, and nothing is made", async () => {
    const before = (await a.client.datastores.list()).length;
    const both = await apiError(a.client.datastores.create({ name: "both", path: path.join(dir, "both"), shared: true, host_id: "b" }));
    expect(both).toMatchObject({ status: 400, field: "shared" });
    const nowhere = await apiError(a.client.datastores.create({ name: "nowhere", path: path.join(dir, "nowhere"), host_id: "nowhere" }));
    expect(nowhere).toMatchObject({ status: 404, field: "host_id" });
    expect((await a.client.datastores.list()).length).toBe(before);
    await expect(fs.stat(path.join(dir, "both"))).rejects.toThrow();
  });

  test("a VM cloned onto it lives on host b; host local is refused it; it migrates to local only with its disk moved to a datastore local reads", async () => {
    const refused = await apiError(a.client.vms.create({ name: "wrong-host", template_id: templateId, clone_mode: "full", datastore_id: own.id, host_id: "local" }));
    expect(refused).toMatchObject({ status: 409, field: "host_id" });
    expect(refused.message).toMatch(/host local cannot read the VM's datastore b-own \(local to host b\)/);

    const job = await a.client.vms.create({ name: "b-disk", template_id: templateId, clone_mode: "full", datastore_id: own.id });
    expect(job.host_id).toBe("b");
    const vm = (await a.client.waitJob(job.id)).result as { id: string; host_id: string; disk_path: string };
    expect(vm.host_id).toBe("b");
    expect(vm.disk_path.startsWith(own.path)).toBe(true);
    const running = await a.client.vms.start(vm.id);

    const stay = await apiError(a.client.vms.migrate(vm.id, { host_id: "local" }));
    expect(stay).toMatchObject({ status: 409, field: "host_id" });
    expect(stay.message).toMatch(/disk is on datastore b-own \(local to host b\), which host local cannot read/);
    const moved = (await a.client.waitJob((await a.client.vms.migrate(vm.id, { host_id: "local", target_datastore_id: sharedId })).id, { timeoutMs: 120_000 })).result as MigrateResultWire;
    expect(moved.target_host_id).toBe("local");
    const after = (await a.client.vms.get(vm.id))!;
    expect(after).toMatchObject({ host_id: "local", power_state: "running", datastore_id: sharedId });
    expect(await pidGoneSoon(running.pid!)).toBe(true);
    await a.client.vms.stop(vm.id, { timeout_seconds: 0 });
    await a.client.vms.delete(vm.id);
  });

  test("host b keeps a pool on it filled, and a fleet over it is applied by b with its members on b", async () => {
    const pool = await a.client.pools.create({ template_id: templateId, datastore_id: own.id, size: 2 });
    const ready = await b.client.waitPoolReady(pool.id, { timeoutMs: 120_000 });
    expect(ready.ready).toBe(2);
    const applied = await a.client.fleets.create({ template_id: templateId, size: 2, datastore_ids: [own.id], name_prefix: "bfleet" });
    expect(applied.host_id).toBe("b");
    const done = await a.client.waitJob(applied.id, { timeoutMs: 120_000 });
    const members = (await a.client.vms.list()).filter((v) => v.fleet_id === done.target_id);
    expect(members.map((m) => [m.host_id, m.provisioned_by])).toEqual([
      ["b", "pool"],
      ["b", "pool"],
    ]);
    // shared: false alone makes a datastore the answering host's own.
    const localOwn = await a.client.datastores.create({ name: "local-own", path: path.join(dir, "local-own"), shared: false });
    expect(localOwn).toMatchObject({ shared: false, host_id: "local" });
    const across = await apiError(a.client.fleets.create({ template_id: templateId, size: 2, datastore_ids: [own.id, localOwn.id], name_prefix: "across", clone_mode: "full" }));
    expect(across).toMatchObject({ status: 409, field: "datastore_ids[1]" });
  });
});

test("host b's agent killed: its running VM reads host_state down with its last known power state, and up again once b is back", async () => {
  const created = await a.client.vms.create({ name: "orphaned", template_id: templateId, clone_mode: "full", host_id: "b" });
  const vm = (await a.client.waitJob(created.id)).result as { id: string };
  const running = await a.client.vms.start(vm.id);
  expect((await a.client.vms.get(vm.id))!).toMatchObject({ host_state: "up", power_state: "running", pid: running.pid });
  await b.kill();
  const seen = await waitFor("host b down in the VM's view", async () => {
    const v = await a.client.vms.get(vm.id);
    return v?.host_state === "down" ? v : null;
  }, 30_000);
  // Host local cannot look at b's processes: it reports what b last recorded, not a crash.
  expect(seen).toMatchObject({ host_id: "b", power_state: "running", pid: running.pid, crashed: false });
  b = await spawnEngine(stateOf("b"), ["--inventory", inventoryUrl, "--host-name", "b", ...HEARTBEAT]);
  const back = await waitFor("host b up again", async () => {
    const v = await a.client.vms.get(vm.id);
    return v?.host_state === "up" ? v : null;
  }, 30_000);
  // b's agent found its QEMU still running and kept it.
  expect(back).toMatchObject({ power_state: "running", pid: running.pid });
  await a.client.vms.stop(vm.id, { timeout_seconds: 0 });
});
