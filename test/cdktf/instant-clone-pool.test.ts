/**
 * The InstantClonePool CDKTF construct: an instant-clone parent captured from a VM and N
 * running instant clones of it, in the synthesized configuration and in the example; bad props
 * reported at synthesis naming each one.
 */
import { Testing, TerraformStack } from "cdktf";
import { InstantClonePool, provider, vm } from "../../provider/cdktf";
import { ClonefleetExample } from "../../examples/cdktf/stack";

type Resources = Record<string, Record<string, Record<string, unknown>>>;
const synth = (stack: TerraformStack): Resources => (JSON.parse(Testing.synth(stack, true)) as { resource?: Resources }).resource ?? {};

describe("the InstantClonePool construct", () => {
  test("a parent captured from the source VM and N running instant clones of it; the clones' ids are exposed", () => {
    const app = Testing.app();
    const stack = new TerraformStack(app, "pool");
    new provider.ClonefleetProvider(stack, "clonefleet", {});
    const src = new vm.Vm(stack, "src", { name: "src", templateId: "tpl-1", powerState: "running" });
    const pool = new InstantClonePool(stack, "workers", { source: src, parentName: "src-base", cloneCount: 3, namePrefix: "worker", ramLocation: "datastore", warmCount: 2 });
    expect(pool.clones).toHaveLength(3);
    expect(pool.cloneIds).toHaveLength(3);
    const out = synth(stack);
    const parents = Object.entries(out.clonefleet_instant_clone_parent ?? {});
    expect(parents).toHaveLength(1);
    const [parentAddr, parent] = parents[0];
    const srcAddr = Object.entries(out.clonefleet_vm).find(([, v]) => v.name === "src")![0];
    expect(parent).toMatchObject({ source_vm_id: `\${clonefleet_vm.${srcAddr}.id}`, name: "src-base", ram_location: "datastore", warm_count: 2 });
    const clones = Object.values(out.clonefleet_vm).filter((v) => v.instant_clone_of !== undefined);
    expect(clones.map((c) => [c.name, c.instant_clone_of, c.power_state])).toEqual([
      ["worker-1", `\${clonefleet_instant_clone_parent.${parentAddr}.id}`, "running"],
      ["worker-2", `\${clonefleet_instant_clone_parent.${parentAddr}.id}`, "running"],
      ["worker-3", `\${clonefleet_instant_clone_parent.${parentAddr}.id}`, "running"],
    ]);
    for (const c of clones) expect(c.template_id).toBeUndefined();
  });

  test("a source given by id; clones named after the parent by default", () => {
    const stack = new TerraformStack(Testing.app(), "plain");
    new provider.ClonefleetProvider(stack, "clonefleet", {});
    new InstantClonePool(stack, "p", { source: "vm-7", parentName: "base", cloneCount: 2 });
    const out = synth(stack);
    expect(Object.values(out.clonefleet_instant_clone_parent)).toEqual([expect.objectContaining({ source_vm_id: "vm-7", name: "base" })]);
    expect(Object.values(out.clonefleet_vm).map((v) => v.name)).toEqual(["base-1", "base-2"]);
  });

  test("bad props fail at synth time naming each prop", () => {
    const stack = new TerraformStack(Testing.app(), "bad");
    new InstantClonePool(stack, "p", { source: "", parentName: "a/b", cloneCount: 300, namePrefix: "../up", ramLocation: "nvme" as "tmpfs", warmCount: 65 });
    let message = "";
    try {
      Testing.synth(stack, true);
    } catch (err) {
      message = (err as Error).message;
    }
    for (const words of ["source must be", "parentName", "cloneCount must be between 0 and 256", "namePrefix", "ramLocation must be one of tmpfs, datastore", "warmCount must be between 0 and 64 (got 65)"]) {
      expect(message).toContain(words);
    }
  });
});

test("the example captures the running app after its fork and starts two instant clones of it", () => {
  const stack = new ClonefleetExample(Testing.app(), "example", { datastorePath: "/srv/cf/example", imagePath: "/images/tiny.raw" });
  const out = synth(stack);
  const vms = Object.entries(out.clonefleet_vm);
  const appAddr = vms.find(([, v]) => v.name === "app")![0];
  const forkAddr = vms.find(([, v]) => v.name === "app-fork")![0];
  const [[parentAddr, parent]] = Object.entries(out.clonefleet_instant_clone_parent);
  expect(parent).toMatchObject({ source_vm_id: `\${clonefleet_vm.${appAddr}.id}`, name: "app-base", warm_count: 1, depends_on: [`clonefleet_vm.${forkAddr}`] });
  expect(vms.filter(([, v]) => v.instant_clone_of === `\${clonefleet_instant_clone_parent.${parentAddr}.id}`).map(([, v]) => [v.name, v.power_state])).toEqual([
    ["app-clone-1", "running"],
    ["app-clone-2", "running"],
  ]);
});
