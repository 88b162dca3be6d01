/**
 * The CloneFleet component under the SDK's mocks: a DiskPool per datastore and a Fleet over all
 * of them as its children, the fleet depending on the pools, the connection passed down, and
 * bad arguments refused at construction naming each one.
 */
import * as pulumi from "@pulumi/pulumi";
import { CloneFleet, cloneFleetArgsProblems, Datastore } from "../../pulumi";

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
        const computed: Record<string, unknown> = args.type.endsWith(":Fleet")
          ? { vms: [{ id: "vm-1", name: "web-1", datastoreId: "ds-a", diskPath: "/srv/a/vm-1.qcow2", provisionedBy: "pool" }], membersHealthy: true }
          : args.type.endsWith(":DiskPool")
            ? { ready: args.inputs.size, atSize: true }
            : {};
        return { id: `${args.name}-id`, state: { ...args.inputs, ...computed } };
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

test("a pool on each datastore and a fleet over them, all children of the component", async () => {
  const a = new Datastore("a", { name: "a", path: "/srv/a", endpoint: "http://127.0.0.1:9999" });
  const cf = new CloneFleet("web", {
    templateId: "tpl-1",
    datastores: [a, "ds-b"],
    poolSize: 4,
    fleetSize: 6,
    namePrefix: "web",
    endpoint: "http://127.0.0.1:9999",
    token: "s3cret",
  });
  expect(cf.pools).toHaveLength(2);
  expect(await valueOf(cf.vms)).toEqual([{ id: "vm-1", name: "web-1", datastoreId: "ds-a", diskPath: "/srv/a/vm-1.qcow2", provisionedBy: "pool" }]);
  await valueOf(cf.fleet.urn);
  await Promise.all(cf.pools.map((p) => valueOf(p.urn)));

  const pools = registered.filter((r) => r.type === "pulumi-nodejs:dynamic/clonefleet:DiskPool");
  expect(pools.map((p) => [p.name, p.inputs.templateId, p.inputs.datastoreId, p.inputs.size]).sort()).toEqual([
    ["web-pool-0", "tpl-1", "a-id", 4],
    ["web-pool-1", "tpl-1", "ds-b", 4],
  ]);
  const fleet = registered.find((r) => r.name === "web-fleet")!;
  expect(fleet.inputs).toMatchObject({ templateId: "tpl-1", size: 6, namePrefix: "web", datastoreIds: ["a-id", "ds-b"], endpoint: "http://127.0.0.1:9999" });
  expect(registered.find((r) => r.name === "web")!.type).toBe("clonefleet:index:CloneFleet");

  expect(fleet.type).toBe("pulumi-nodejs:dynamic/clonefleet:Fleet");
  // Every child hangs under the component.
  const fleetOpts = (cf.fleet as unknown as { __parentResource?: pulumi.Resource }).__parentResource;
  expect(fleetOpts).toBe(cf);
  for (const p of cf.pools) expect((p as unknown as { __parentResource?: pulumi.Resource }).__parentResource).toBe(cf);
});

test("a pool size of 0 makes no pools", async () => {
  const cf = new CloneFleet("plain", { templateId: "tpl-1", datastores: ["ds-a"], poolSize: 0, fleetSize: 2, cloneMode: "full" });
  await valueOf(cf.fleet.urn);
  expect(cf.pools).toEqual([]);
  expect(registered.filter((r) => r.name.startsWith("plain-pool"))).toEqual([]);
  expect(registered.find((r) => r.name === "plain-fleet")!.inputs).toMatchObject({ cloneMode: "full", datastoreIds: ["ds-a"] });
});

test("bad arguments are refused at construction, naming each one", () => {
  const a = new Datastore("dup", { name: "dup", path: "/srv/dup" });
  const problems = cloneFleetArgsProblems({
    templateId: "",
    datastores: [a, "ds-1", "ds-1", "", a],
    poolSize: -1,
    fleetSize: 2000,
    namePrefix: "../up",
    cloneMode: "thin",
  });
  expect(problems).toEqual([
    "templateId must be a template id",
    "datastores[2] repeats ds-1",
    "datastores[3] must not be empty",
    "datastores[4] repeats datastores[0]",
    expect.stringMatching(/^poolSize /),
    expect.stringMatching(/^fleetSize /),
    expect.stringMatching(/^namePrefix /),
    expect.stringMatching(/^cloneMode must be one of pool, full, linked/),
  ]);
  expect(() => new CloneFleet("empty", { templateId: "tpl-1", datastores: [], poolSize: 1, fleetSize: 1 })).toThrow(
    /^CloneFleet empty: datastores must list at least one datastore$/,
  );
  // Outputs are not known yet: the providers' checks see them later.
  expect(cloneFleetArgsProblems({ templateId: pulumi.output("tpl-1"), datastores: [pulumi.output("ds-1")], poolSize: 1, fleetSize: pulumi.output(3) })).toEqual([]);
});
