/**
 * The InstantClonePool component under the SDK's mocks: an InstantCloneParent captured from
 * the source and N running instant clones of it as its children, the connection passed down,
 * the clones' ids exposed, and bad arguments refused at construction naming each one.
 */
import * as pulumi from "@pulumi/pulumi";
import { InstantClonePool, instantClonePoolArgsProblems, Vm } from "../../pulumi";

interface Registered {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}

const registered: Registered[] = [];

beforeAll(async () => {
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        registered.push({ type: args.type, name: args.name, inputs: args.inputs });
        return { id: `${args.name}-id`, state: { ...args.inputs } };
      },
      call: (args) => args.inputs,
    },
    "clonefleet-test",
    "dev",
    false,
  );
});

afterEach(() => {
  registered.length = 0;
});

function valueOf<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => o.apply((v) => resolve(v)));
}

const childOf = (r: pulumi.Resource) => (r as unknown as { __parentResource?: pulumi.Resource }).__parentResource;

test("a parent captured from the source VM and N running instant clones of it, all children of the component", async () => {
  const app = new Vm("app", { name: "app", templateId: "tpl-1", powerState: "running", endpoint: "http://127.0.0.1:9999" });
  const pool = new InstantClonePool("workers", { source: app, parentName: "app-base", cloneCount: 3, namePrefix: "worker", warmCount: 2, endpoint: "http://127.0.0.1:9999", token: "s3cret" });
  expect(pool.clones).toHaveLength(3);
  expect(await valueOf(pool.cloneIds)).toEqual(["workers-clone-1-id", "workers-clone-2-id", "workers-clone-3-id"]);
  await valueOf(pool.parentObject.urn);

  const parent = registered.find((r) => r.name === "workers-parent")!;
  expect(parent.type).toBe("pulumi-nodejs:dynamic/clonefleet:InstantCloneParent");
  expect(parent.inputs).toMatchObject({ sourceVmId: "app-id", name: "app-base", warmCount: 2, endpoint: "http://127.0.0.1:9999" });
  const clones = registered.filter((r) => r.name.startsWith("workers-clone-"));
  expect(clones.map((c) => [c.type, c.inputs.name, c.inputs.instantCloneOf, c.inputs.powerState]).sort()).toEqual([
    ["pulumi-nodejs:dynamic/clonefleet:Vm", "worker-1", "workers-parent-id", "running"],
    ["pulumi-nodejs:dynamic/clonefleet:Vm", "worker-2", "workers-parent-id", "running"],
    ["pulumi-nodejs:dynamic/clonefleet:Vm", "worker-3", "workers-parent-id", "running"],
  ]);
  expect(registered.find((r) => r.name === "workers")!.type).toBe("clonefleet:index:InstantClonePool");
  expect(childOf(pool.parentObject)).toBe(pool);
  for (const c of pool.clones) expect(childOf(c)).toBe(pool);
});

test("a source given by id, clones named after the parent by default, none when cloneCount is 0", async () => {
  const pool = new InstantClonePool("plain", { source: "vm-7", parentName: "base", cloneCount: 2 });
  expect(await valueOf(pool.cloneIds)).toHaveLength(2);
  expect(registered.find((r) => r.name === "plain-parent")!.inputs).toMatchObject({ sourceVmId: "vm-7", name: "base" });
  expect(registered.filter((r) => r.name.startsWith("plain-clone-")).map((r) => r.inputs.name).sort()).toEqual(["base-1", "base-2"]);
  const none = new InstantClonePool("none", { source: "vm-7", parentName: "lonely", cloneCount: 0 });
  expect(await valueOf(none.cloneIds)).toEqual([]);
});

test("bad arguments are refused at construction, naming each one", () => {
  expect(instantClonePoolArgsProblems({ source: "", parentName: "a/b", cloneCount: 300, namePrefix: "../up", ramLocation: "nvme", warmCount: 65 })).toEqual([
    "source must be a Vm or a VM id",
    expect.stringMatching(/^parentName /),
    expect.stringMatching(/^cloneCount must be between 0 and 256/),
    expect.stringMatching(/^namePrefix /),
    expect.stringMatching(/^ramLocation must be one of tmpfs, datastore/),
    "warmCount must be between 0 and 64 (got 65)",
  ]);
  expect(() => new InstantClonePool("bad", { source: "vm-1", parentName: "ok", cloneCount: -1 })).toThrow(/^InstantClonePool bad: cloneCount /);
  // Outputs are not known yet: the providers' checks see them later.
  expect(instantClonePoolArgsProblems({ source: pulumi.output("vm-1"), parentName: "ok", cloneCount: 1, ramLocation: pulumi.output("tmpfs"), warmCount: pulumi.output(99) })).toEqual([]);
});
