/**
 * Three hosts on the namespace cluster (scripts/cluster/): each engine, and the QEMU processes
 * it starts, in its own network namespace with its own address in 198.18.0.0/15 and its own
 * state folder; PostgreSQL on the bridge. Live migration between namespaces, a host's own
 * datastore, and a host cut off by its link going down. Needs root; skips with a message elsewhere.
 */
import { execFile } from "node:child_process";
import { promises as fs, readdirSync, readFileSync, readlinkSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import type { MigrateResultWire, VmWire } from "../../engine/client";
import { clusterNetworkProblem } from "../../scripts/cluster/network";
import { startNamespaceCluster, type ClusterHost, type NamespaceCluster } from "../../scripts/cluster/cluster";
import { apiError as apiErrorOf } from "../support/api-error";
import { pidGoneSoon } from "../support/vms";
import { waitFor } from "../support/wait";

const run = promisify(execFile);
const problem = clusterNetworkProblem();
if (problem) {
  test.skip(`namespace cluster: ${problem}`, () => undefined);
}
const suite = problem ? describe.skip : describe;

jest.setTimeout(240_000);

/** The network namespace a process is in (its inode link). */
const netnsOf = (pid: number) => readlinkSync(`/proc/${pid}/ns/net`);

/** Pids of QEMU processes whose command line names `needle` (a VM id), on the whole machine. */
function qemuProcessesNaming(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8");
    } catch {
      continue;
    }
    if (cmd.startsWith("qemu-system") || cmd.includes("/qemu-system")) {
      if (cmd.includes(needle)) pids.push(Number(entry));
    }
  }
  return pids;
}

suite("a namespace cluster of three hosts", () => {
  let cluster: NamespaceCluster;
  let local: ClusterHost;
  let h2: ClusterHost;
  let h3: ClusterHost;
  let templateId: string;

  beforeAll(async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-cluster-"));
    cluster = await startNamespaceCluster({ dir, hosts: 3, heartbeatIntervalMs: 300 });
    [local, h2, h3] = cluster.hosts;
    const img = path.join(dir, "blank.qcow2");
    await run("qemu-img", ["create", "-q", "-f", "qcow2", img, "32M"]);
    const job = await local.client.templates.import({ name: "fw", datastore_id: cluster.sharedDatastoreId, source_path: img, memory_mb: 256, vcpus: 1 });
    templateId = ((await local.client.waitJob(job.id)).result as { id: string }).id;
  }, 180_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  test("each host's engine runs in its own namespace on its own address; every host sees all three up", async () => {
    const self = readlinkSync("/proc/self/ns/net");
    const spaces = cluster.hosts.map((h) => netnsOf(h.engine!.pid!));
    expect(new Set([self, ...spaces]).size).toBe(4);
    for (const h of cluster.hosts) {
      const hosts = await h.client.hosts.list();
      expect(hosts.map((x) => [x.id, x.status, x.api_url])).toEqual(
        [...cluster.hosts].sort((a, b) => a.id.localeCompare(b.id)).map((x) => [x.id, "up", x.url]),
      );
      expect(h.url).toMatch(/^http:\/\/198\.18\.\d+\.\d+:7420$/);
    }
  });

  test("a VM's QEMU runs in its host's namespace, live-migrates between namespaces, and onto a host's own datastore", async () => {
    const job = await h2.client.vms.create({ name: "roamer", template_id: templateId, clone_mode: "full", host_id: "local" });
    const vm = (await h2.client.waitJob(job.id)).result as VmWire;
    const started = await h2.client.vms.start(vm.id);
    expect(started.host_id).toBe("local");
    expect(netnsOf(started.pid!)).toBe(netnsOf(local.engine!.pid!));

    const toH2 = (await h3.client.waitJob((await h3.client.vms.migrate(vm.id, { host_id: "h2" })).id, { timeoutMs: 120_000 })).result as MigrateResultWire;
    expect([toH2.source_host_id, toH2.target_host_id]).toEqual(["local", "h2"]);
    const onH2 = (await local.client.vms.get(vm.id))!;
    expect(onH2).toMatchObject({ host_id: "h2", power_state: "running", host_state: "up" });
    expect(netnsOf(onH2.pid!)).toBe(netnsOf(h2.engine!.pid!));
    expect(await pidGoneSoon(started.pid!)).toBe(true);

    // h3 cannot read h2's own datastore, but the VM is on the shared one; onto h3's own, the disk moves with it.
    const toH3 = (await local.client.waitJob((await local.client.vms.migrate(vm.id, { host_id: "h3", target_datastore_id: h3.localDatastoreId })).id, { timeoutMs: 120_000 }))
      .result as MigrateResultWire;
    expect(toH3.target_host_id).toBe("h3");
    const onH3 = (await h3.client.vms.get(vm.id))!;
    expect(onH3).toMatchObject({ host_id: "h3", power_state: "running", datastore_id: h3.localDatastoreId });
    expect(netnsOf(onH3.pid!)).toBe(netnsOf(h3.engine!.pid!));
    expect(qemuProcessesNaming(vm.id)).toEqual([onH3.pid]);
    await h3.client.vms.stop(vm.id, { timeout_seconds: 0 });
  });

  test("a running fleet spreads over the three hosts, each member's QEMU in its host's namespace; shrinking and host_ids keep to the hosts", async () => {
    const job = await h3.client.fleets.create({ template_id: templateId, size: 6, datastore_ids: [cluster.sharedDatastoreId], name_prefix: "spread", clone_mode: "full", power_state: "running" });
    const applied = (await h3.client.waitJob(job.id, { timeoutMs: 180_000 })).result as { fleet: { id: string; host_ids: string[] | null; vms: { id: string; host_id: string }[] } };
    const fleet = applied.fleet;
    expect(fleet.host_ids).toBeNull();
    const perHost = (vms: { host_id: string }[]) => Object.fromEntries(cluster.hosts.map((h) => [h.id, vms.filter((v) => v.host_id === h.id).length]));
    expect(perHost(fleet.vms)).toEqual({ local: 2, h2: 2, h3: 2 });
    for (const m of fleet.vms) {
      const vm = (await local.client.vms.get(m.id))!;
      expect(vm.power_state).toBe("running");
      expect(netnsOf(vm.pid!)).toBe(netnsOf(cluster.hosts.find((h) => h.id === m.host_id)!.engine!.pid!));
    }
    // Shrinking removes the newest members wherever they run: their hosts stop them first.
    const pids = new Map((await local.client.vms.list({ fleetId: fleet.id })).map((v) => [v.id, v.pid!]));
    const shrunk = (await local.client.waitJob((await local.client.fleets.update(fleet.id, { template_id: templateId, size: 3, datastore_ids: [cluster.sharedDatastoreId], clone_mode: "full", power_state: "running" })).id, { timeoutMs: 120_000 })).result as {
      removed: { id: string }[];
    };
    expect(shrunk.removed).toHaveLength(3);
    for (const r of shrunk.removed) expect(await pidGoneSoon(pids.get(r.id)!)).toBe(true);
    expect((await local.client.vms.list({ fleetId: fleet.id })).length).toBe(3);

    // host_ids keeps members to the hosts it names.
    const narrow = await local.client.fleets.create({ template_id: templateId, size: 4, datastore_ids: [cluster.sharedDatastoreId], name_prefix: "narrow", clone_mode: "full", host_ids: ["h2", "h3"] });
    const narrowed = ((await local.client.waitJob(narrow.id, { timeoutMs: 120_000 })).result as { fleet: { id: string; host_ids: string[]; vms: { host_id: string }[] } }).fleet;
    expect(narrowed.host_ids).toEqual(["h2", "h3"]);
    expect(perHost(narrowed.vms)).toEqual({ local: 0, h2: 2, h3: 2 });
    const unknown = await local.client.fleets.create({ template_id: templateId, size: 1, datastore_ids: [cluster.sharedDatastoreId], name_prefix: "nowhere", host_ids: ["h9"] }).then(
      () => null,
      (e: unknown) => e as { status: number; field: string },
    );
    expect(unknown).toMatchObject({ status: 404, field: "host_ids[0]" });

    for (const id of [fleet.id, narrowed.id]) await local.client.fleets.delete(id);
    for (const pid of pids.values()) expect(await pidGoneSoon(pid)).toBe(true);
    expect(qemuProcessesNaming("spread-")).toEqual([]);
  });

  test("a host cut off by its link is marked down and its VM reads host_state down; with the link back there is still one QEMU per VM", async () => {
    const job = await local.client.vms.create({ name: "cut-off", template_id: templateId, clone_mode: "full", host_id: "h2" });
    const vm = (await local.client.waitJob(job.id)).result as VmWire;
    const running = await local.client.vms.start(vm.id);
    cluster.setLink("h2", false);
    try {
      const down = await waitFor(
        "h2 marked down",
        async () => {
          const h = await local.client.hosts.get("h2");
          return h?.status === "down" ? h : null;
        },
        30_000,
      );
      expect(down.down_reason).toMatch(/not answering|no heartbeat/);
      expect((await local.client.vms.get(vm.id))!).toMatchObject({ host_state: "down", power_state: "running", pid: running.pid });
      // Work for it is refused, not queued for an agent nobody reaches.
      await expect(local.client.vms.stop(vm.id, { timeout_seconds: 0 })).rejects.toMatchObject({ status: 409, field: "host_id" });
    } finally {
      cluster.setLink("h2", true);
    }
    const back = await waitFor(
      "h2 up again",
      async () => {
        const v = await local.client.vms.get(vm.id);
        return v?.host_state === "up" ? v : null;
      },
      30_000,
    );
    expect(back).toMatchObject({ host_id: "h2", power_state: "running", pid: running.pid });
    expect(qemuProcessesNaming(vm.id)).toEqual([running.pid]);
    await local.client.vms.stop(vm.id, { timeout_seconds: 0 });
    expect(await pidGoneSoon(running.pid!)).toBe(true);
  });

  test("a lost host's ha_restart VM runs again on another host exactly once; one without ha_restart is reported, not lost; the host comes back without a second QEMU", async () => {
    const make = async (name: string) => {
      const job = await local.client.vms.create({ name, template_id: templateId, clone_mode: "full", host_id: "h3" });
      const vm = (await local.client.waitJob(job.id)).result as VmWire;
      return local.client.vms.start(vm.id);
    };
    const ha = await make("survivor");
    const plain = await make("bystander");
    const patched = await local.client.vms.update(ha.id, { ha_restart: true });
    expect(patched.ha_restart).toBe(true);
    expect((await apiErrorOf(local.client.vms.update(ha.id, { ha_restart: "yes" as unknown as boolean })))).toMatchObject({ status: 400, field: "ha_restart" });

    // The machine is lost: its agent and its QEMU processes die.
    await cluster.killHost("h3");
    for (const pid of [ha.pid!, plain.pid!]) process.kill(pid, "SIGKILL");
    expect(await pidGoneSoon(ha.pid!)).toBe(true);

    const moved = await waitFor(
      "the HA VM running on another host",
      async () => {
        const v = await local.client.vms.get(ha.id);
        return v && v.host_id !== "h3" && v.power_state === "running" && v.pid ? v : null;
      },
      60_000,
    );
    expect(["local", "h2"]).toContain(moved.host_id);
    expect(netnsOf(moved.pid!)).toBe(netnsOf(cluster.hosts.find((h) => h.id === moved.host_id)!.engine!.pid!));
    expect(qemuProcessesNaming(ha.id)).toEqual([moved.pid]);
    // Restarted once: exactly one start job took it over.
    const starts = (await local.client.jobs.list()).filter((j) => j.kind === "vm.start" && j.target_id === ha.id && j.host_id !== "h3");
    expect(starts).toHaveLength(1);
    expect((await local.client.vms.get(plain.id))!).toMatchObject({ host_id: "h3", host_state: "down", power_state: "running" });

    await cluster.startHost("h3");
    const settled = await waitFor(
      "h3 back, its lost VM found dead",
      async () => {
        const v = await local.client.vms.get(plain.id);
        return v?.host_state === "up" && v.power_state === "stopped" ? v : null;
      },
      60_000,
    );
    expect(settled.crashed).toBe(true);
    expect((await local.client.vms.get(ha.id))!).toMatchObject({ host_id: moved.host_id, power_state: "running", pid: moved.pid });
    expect(qemuProcessesNaming(ha.id)).toEqual([moved.pid]);
    await local.client.vms.stop(ha.id, { timeout_seconds: 0 });
  });
});
