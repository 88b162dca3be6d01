import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { PROJECT_ROOT } from "../../engine/version";
import { PROVIDER_SOURCE } from "../../provider/schema-json";
import { waitPoolsSettled } from "../support/clones";
import { makeRawImage, startTestEngine, type TestEngine } from "../support/engine";

// examples/terraform run by the real CLI (terraform, else tofu) through dev_overrides, against
// a real engine. Skipped, saying so, when neither CLI is on PATH.
const cli = ["terraform", "tofu"]
  .map((name) => (process.env.PATH ?? "").split(path.delimiter).map((d) => path.join(d, name)).find((p) => fs.existsSync(p)))
  .find(Boolean);
const suite = cli ? describe : describe.skip;
jest.setTimeout(300_000);

suite(`examples/terraform with the real ${cli ? path.basename(cli) : "terraform/tofu CLI (skipped: neither terraform nor tofu is on PATH)"}`, () => {
  let t: TestEngine;
  let work: string;
  let env: NodeJS.ProcessEnv;
  let vars: string[];

  // Asynchronous on purpose: the engine serves from this same process.
  const run = (...args: string[]) =>
    new Promise<{ status: number; out: string }>((resolve) => {
      execFile(cli!, [...args, "-no-color"], { cwd: work, env, timeout: 240_000 }, (err, stdout, stderr) => {
        resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}\n${stderr}` });
      });
    });
  const ok = async (...args: string[]) => {
    const r = await run(...args);
    if (r.status !== 0) throw new Error(`${path.basename(cli!)} ${args.join(" ")} failed (${r.status}):\n${r.out}`);
    return r.out;
  };

  beforeAll(async () => {
    t = await startTestEngine();
    work = path.join(t.dir, "example");
    fs.mkdirSync(work);
    fs.copyFileSync(path.join(PROJECT_ROOT, "examples", "terraform", "main.tf"), path.join(work, "main.tf"));
    const bin = path.join(t.dir, "bin");
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, "terraform-provider-clonefleet"), `#!/bin/sh\nexec ${JSON.stringify(path.join(PROJECT_ROOT, "bin", "terraform-provider-clonefleet"))} "$@"\n`, { mode: 0o755 });
    const rc = path.join(t.dir, "terraform.rc");
    fs.writeFileSync(rc, `provider_installation {\n  dev_overrides {\n    "${PROVIDER_SOURCE}" = ${JSON.stringify(bin)}\n  }\n  direct {}\n}\n`);
    env = { ...process.env, TF_CLI_CONFIG_FILE: rc, CHECKPOINT_DISABLE: "1", TF_IN_AUTOMATION: "1", TF_LOG: "", TF_VAR_token: t.engine.token!, TF_VAR_endpoint: t.engine.url };
    const image = await makeRawImage(path.join(t.dir, "image.raw"));
    vars = ["-var", `datastore_path=${path.join(t.dir, "ds")}`, "-var", `image_path=${image}`];
  });
  afterAll(async () => {
    const tmpfsDir = t.engine.runner.settings.parentTmpfsDir;
    await t.stop();
    // Instant-clone parents keep their RAM on the tmpfs, outside the test's folder.
    if (tmpfsDir) fs.rmSync(tmpfsDir, { recursive: true, force: true });
  });

  const CLONES = [
    "clonefleet_fleet.web",
    "clonefleet_vm.scratch",
    "clonefleet_vm.app",
    "clonefleet_vm.app_fork",
    "clonefleet_instant_clone_parent.app",
    "clonefleet_vm.app_clone",
    "clonefleet_snapshot.app",
    "clonefleet_disk_pool.local",
    "clonefleet_disk_pool.replicas",
  ];

  test("apply, an empty plan, drift repaired, destroy", async () => {
    expect(await ok("apply", "-auto-approve", ...vars)).toMatch(/14 added, 0 changed, 0 destroyed/);
    const templates = await t.client.templates.list();
    expect(templates.map((x) => x.name)).toEqual(["tiny"]);
    expect((await ok("output", "-raw", "template_content_id")).trim()).toBe(templates[0].content_id);
    const replicas = await t.client.replicas.list();
    expect(replicas.map((r) => [r.template_id, r.state, r.layers_copied])).toEqual([[templates[0].id, "ready", 1]]);
    expect((await ok("output", "-raw", "replica_disk_path")).trim()).toBe(replicas[0].disk_path);
    expect(Number((await ok("output", "-raw", "replica_copied_bytes")).trim())).toBe(replicas[0].copied_bytes);

    // The pools were full before the fleet was made: every member got a pool copy.
    const fleets = await t.client.fleets.list();
    expect(fleets.map((f) => [f.name_prefix, f.size, f.state])).toEqual([["web", 4, "ready"]]);
    expect(JSON.parse(await ok("output", "-json", "fleet_provisioned_by"))).toEqual({ "web-1": "pool", "web-2": "pool", "web-3": "pool", "web-4": "pool" });
    const scratch = (await t.client.vms.list()).find((v) => v.name === "scratch")!;
    expect(scratch).toMatchObject({ provisioned_by: "linked", chain_depth: 2 });
    expect((JSON.parse(await ok("output", "-json", "scratch_disk_chain")) as { path: string }[]).map((l) => l.path)).toEqual(scratch.disk_chain);
    const app = (await t.client.vms.list()).find((v) => v.name === "app")!;
    const appFork = (await t.client.vms.list()).find((v) => v.name === "app-fork")!;
    expect([app.power_state, appFork.power_state]).toEqual(["running", "running"]);
    // Placed on host local, read through data.clonefleet_host, with the example's migration policy.
    expect(app).toMatchObject({ host_id: "local", migration_notify_timeout_seconds: 10, migration_on_missing_ack: "abort" });
    expect((await ok("output", "-raw", "app_host_id")).trim()).toBe("local");
    expect((await ok("output", "-raw", "local_host_status")).trim()).toBe("up");
    expect(appFork.forked_from).toBe(app.id);
    expect((await ok("output", "-raw", "app_fork_forked_from")).trim()).toBe(app.id);
    expect((JSON.parse(await ok("output", "-json", "app_fork_disk_chain")) as { path: string }[]).map((l) => l.path)).toEqual(appFork.disk_chain);
    // The app was captured as an instant-clone parent after the fork, and started again; two instant clones of it run.
    const [parent] = await t.client.parents.list();
    expect(parent).toMatchObject({ name: "app-base", source_vm_id: app.id, state: "ready", warm_count: 1 });
    expect((await ok("output", "-raw", "app_parent_ram_path")).trim()).toBe(parent.ram_path);
    const clones = (await t.client.vms.list()).filter((v) => v.instant_clone_of === parent.id).sort((a, b) => a.name.localeCompare(b.name));
    expect(clones.map((c) => [c.name, c.power_state, c.disk_chain[1]])).toEqual([
      ["app-clone-1", "running", parent.disk_path],
      ["app-clone-2", "running", parent.disk_path],
    ]);
    expect(JSON.parse(await ok("output", "-json", "app_clone_ids"))).toEqual(clones.map((c) => c.id));
    // The snapshot was taken after the fork and the capture: the running app is two layers deeper than its fork.
    const [appSnap] = await t.client.snapshots.list(app.id);
    expect(appSnap).toMatchObject({ name: "nightly", state: "ready" });
    expect((await ok("output", "-raw", "app_snapshot_frozen_disk_path")).trim()).toBe(appSnap.frozen_disk_path);
    expect(app.disk_chain[1]).toBe(appSnap.frozen_disk_path);
    expect(app.disk_chain[2]).toBe(parent.disk_path);
    expect(app.chain_depth).toBe(appFork.chain_depth + 2);
    await waitPoolsSettled(t.client);
    expect((await run("plan", "-detailed-exitcode", ...vars)).status).toBe(0);

    // The app VM's QEMU dies: the plan powers it on again in place.
    process.kill(app.pid!, "SIGKILL");
    for (let i = 0; i < 200 && (await t.client.vms.get(app.id))!.power_state === "running"; i++) await new Promise((r) => setTimeout(r, 25));
    const powerDrift = await run("plan", "-detailed-exitcode", ...vars);
    expect(powerDrift.status).toBe(2);
    expect(powerDrift.out).toMatch(/clonefleet_vm\.app will be updated in-place/);
    expect(powerDrift.out).toMatch(/~ power_state\s+= "stopped" -> "running"/);
    expect(powerDrift.out).toMatch(/Plan: 0 to add, 1 to change, 0 to destroy/);
    expect(await ok("apply", "-auto-approve", ...vars)).toMatch(/0 added, 1 changed, 0 destroyed/);
    expect((await t.client.vms.get(app.id))!.power_state).toBe("running");
    expect((await run("plan", "-detailed-exitcode", ...vars)).status).toBe(0);

    // An instant clone deleted outside Terraform: the apply clones it again from the parent.
    await t.client.vms.delete(clones[0].id);
    const cloneDrift = await run("plan", "-detailed-exitcode", ...vars);
    expect(cloneDrift.status).toBe(2);
    expect(cloneDrift.out).toMatch(/clonefleet_vm\.app_clone\[0\] will be created/);
    expect(cloneDrift.out).toMatch(/Plan: 1 to add, 0 to change, 0 to destroy/);
    expect(await ok("apply", "-auto-approve", ...vars)).toMatch(/1 added, 0 changed, 0 destroyed/);
    expect((await t.client.vms.list()).find((v) => v.name === "app-clone-1")).toMatchObject({ instant_clone_of: parent.id, power_state: "running" });
    expect((await run("plan", "-detailed-exitcode", ...vars)).status).toBe(0);

    // The snapshot consolidated outside Terraform: it is gone, and the apply takes it again.
    await t.client.waitJob((await t.client.snapshots.delete(appSnap.id)).id, { timeoutMs: 120_000 });
    expect((await t.client.vms.get(app.id))!.chain_depth).toBe(app.chain_depth - 1);
    const snapDrift = await run("plan", "-detailed-exitcode", ...vars);
    expect(snapDrift.status).toBe(2);
    expect(snapDrift.out).toMatch(/clonefleet_snapshot\.app will be created/);
    expect(snapDrift.out).toMatch(/Plan: 1 to add, 0 to change, 0 to destroy/);
    expect(await ok("apply", "-auto-approve", ...vars)).toMatch(/1 added, 0 changed, 0 destroyed/);
    expect((await t.client.vms.get(app.id))!.chain_depth).toBe(app.chain_depth);
    expect((await run("plan", "-detailed-exitcode", ...vars)).status).toBe(0);

    // A fleet member's disk removed outside Terraform: the plan shows the fleet updated in
    // place, and the apply makes the member again.
    const lost = fleets[0].vms[1];
    fs.rmSync(lost.disk_path);
    const fleetDrift = await run("plan", "-detailed-exitcode", ...vars);
    expect(fleetDrift.status).toBe(2);
    expect(fleetDrift.out).toMatch(/clonefleet_fleet\.web will be updated in-place/);
    expect(fleetDrift.out).toMatch(/~ members_healthy\s+= false -> true/);
    expect(fleetDrift.out).toMatch(/Plan: 0 to add, 1 to change, 0 to destroy/);
    expect(await ok("apply", "-auto-approve", ...vars)).toMatch(/0 added, 1 changed, 0 destroyed/);
    const fleetAfter = (await t.client.fleets.get(fleets[0].id))!;
    expect(fleetAfter).toMatchObject({ state: "ready", members_ready: 4 });
    expect(fleetAfter.vms.map((v) => v.id)).not.toContain(lost.id);
    await waitPoolsSettled(t.client);
    expect((await run("plan", "-detailed-exitcode", ...vars)).status).toBe(0);

    // A copied replica layer removed outside Terraform: the plan shows an in-place update, and
    // the apply copies that layer again.
    fs.rmSync(replicas[0].disk_path);
    const replicaDrift = await run("plan", "-detailed-exitcode", ...vars);
    expect(replicaDrift.status).toBe(2);
    expect(replicaDrift.out).toMatch(/clonefleet_replica\.tiny will be updated in-place/);
    expect(replicaDrift.out).toMatch(/~ in_sync\s+= false -> true/);
    expect(replicaDrift.out).toMatch(/Plan: 0 to add, 1 to change, 0 to destroy/);
    expect(await ok("apply", "-auto-approve", ...vars)).toMatch(/0 added, 1 changed, 0 destroyed/);
    const repaired = await t.client.replicas.get(replicas[0].id);
    expect(repaired).toMatchObject({ state: "ready", disk_path: replicas[0].disk_path, copied_bytes: 2 * replicas[0].copied_bytes });
    expect(repaired!.last_run).toMatchObject({ kind: "repair", copied: [expect.objectContaining({ position: 0 })] });
    expect(fs.existsSync(replicas[0].disk_path)).toBe(true);
    expect((await run("plan", "-detailed-exitcode", ...vars)).status).toBe(0);

    // A template in use by pools, a fleet and a linked clone cannot be deleted: remove those first.
    expect(await ok("destroy", "-auto-approve", ...vars, ...CLONES.flatMap((a) => ["-target", a]))).toMatch(/10 destroyed/);
    await t.client.templates.delete(templates[0].id);
    const drift = await run("plan", "-detailed-exitcode", ...vars);
    expect(drift.status).toBe(2);
    expect(drift.out).toMatch(/clonefleet_template\.tiny will be created/);
    // The replica of the old template is replaced by one of the new template.
    expect(drift.out).toMatch(/clonefleet_replica\.tiny must be replaced/);
    for (const address of CLONES) expect(drift.out).toContain(address === "clonefleet_vm.app_clone" ? `${address}[1] will be created` : `${address} will be created`);
    await ok("apply", "-auto-approve", ...vars);
    const recreated = await t.client.templates.list();
    expect(recreated.map((x) => x.name)).toEqual(["tiny"]);
    expect((await t.client.replicas.list()).map((r) => [r.template_id, r.state])).toEqual([[recreated[0].id, "ready"]]);

    expect((await t.client.fleets.list()).map((f) => [f.template_id, f.state])).toEqual([[recreated[0].id, "ready"]]);

    expect(await ok("destroy", "-auto-approve", ...vars)).toMatch(/14 destroyed/);
    expect(await t.client.replicas.list()).toEqual([]);
    expect(await t.client.fleets.list()).toEqual([]);
    expect(await t.client.vms.list()).toEqual([]);
    expect(await t.client.parents.list()).toEqual([]);
    expect(await t.client.pools.list()).toEqual([]);
    expect(await t.client.datastores.list()).toEqual([]);
  });
});
