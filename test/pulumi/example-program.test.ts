/**
 * examples/pulumi/index.ts run under the SDK's mocks (there is no Pulumi CLI here): it declares
 * the datastore and the template from its config, and its chain lookup reaches a real engine.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { makeRawImage, startTestEngine, type TestEngine } from "../support/engine";

let engine: TestEngine;
let template: { disk_path: string; content_id: string };
const registered: { type: string; name: string; inputs: Record<string, unknown> }[] = [];

beforeAll(async () => {
  engine = await startTestEngine();
  // A real template, so that the program's getDiskChain has a real disk to describe.
  const ds = await engine.client.datastores.create({ name: "real", path: path.join(engine.dir, "real") });
  const image = await makeRawImage(path.join(engine.dir, "image.raw"));
  await engine.client.waitJob((await engine.client.templates.import({ name: "real", datastore_id: ds.id, source_path: image })).id);
  template = (await engine.client.templates.list())[0];

  process.env.CLONEFLEET_ENDPOINT = engine.engine.url;
  process.env.CLONEFLEET_TOKEN = engine.engine.token!;
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        registered.push({ type: args.type, name: args.name, inputs: args.inputs });
        const computed = args.type.endsWith(":Template")
          ? { diskPath: template.disk_path, contentId: template.content_id }
          : args.type.endsWith(":Replica")
            ? { diskPath: "/srv/example-replicas/disk.qcow2", copiedBytes: 65536, inSync: true }
            : args.type.endsWith(":Fleet")
              ? { vms: [1, 2, 3, 4].map((n) => ({ id: `vm-${n}`, name: `web-${n}`, datastoreId: "example-store-id", diskPath: `/srv/example/vm-${n}.qcow2`, provisionedBy: "pool" })) }
              : args.type.endsWith(":Vm")
                ? { diskPath: "/srv/example/scratch.qcow2", chainDepth: 2, diskChain: [], provisionedBy: "linked" }
                : {};
        return { id: `${args.name}-id`, state: { ...args.inputs, ...computed } };
      },
      call: (args) => args.inputs,
    },
    "clonefleet-example",
    "dev",
    false,
  );
  pulumi.runtime.setConfig("clonefleet-example:imagePath", "/images/base.raw");
  pulumi.runtime.setConfig("clonefleet-example:datastorePath", "/srv/example");
  pulumi.runtime.setConfig("clonefleet-example:replicaDatastorePath", "/srv/example-replicas");
});

afterAll(async () => {
  delete process.env.CLONEFLEET_ENDPOINT;
  delete process.env.CLONEFLEET_TOKEN;
  await engine?.stop();
});

function valueOf<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => o.apply((v) => resolve(v)));
}

test("the example declares two datastores, a template and its replica, and reads the template's chain", async () => {
  const program = await import("../../examples/pulumi/index");
  expect(await valueOf(program.datastoreId)).toBe("example-store-id");
  expect(await valueOf(program.templateId)).toBe("example-base-id");
  expect(await valueOf(program.chainContentIds)).toEqual([template.content_id]);

  const ds = registered.find((r) => r.name === "example-store")!;
  expect(ds.type).toBe("pulumi-nodejs:dynamic/clonefleet:Datastore");
  expect(ds.inputs).toMatchObject({ name: "example", path: "/srv/example", endpoint: engine.engine.url });
  const tpl = registered.find((r) => r.name === "example-base")!;
  expect(tpl.type).toBe("pulumi-nodejs:dynamic/clonefleet:Template");
  expect(tpl.inputs).toMatchObject({ name: "example-base", datastoreId: "example-store-id", sourcePath: "/images/base.raw", memoryMb: 256, vcpus: 1 });

  const replicaStore = registered.find((r) => r.name === "example-replica-store")!;
  expect(replicaStore.inputs).toMatchObject({ name: "example-replicas", path: "/srv/example-replicas" });
  const replica = registered.find((r) => r.name === "example-base-replica")!;
  expect(replica.type).toBe("pulumi-nodejs:dynamic/clonefleet:Replica");
  expect(replica.inputs).toMatchObject({ templateId: "example-base-id", targetDatastoreId: "example-replica-store-id" });
  expect(await valueOf(program.replicaId)).toBe("example-base-replica-id");
  expect(await valueOf(program.replicaDiskPath)).toBe("/srv/example-replicas/disk.qcow2");
  expect(await valueOf(program.replicaInSync)).toBe(true);
});

test("the example's CloneFleet puts a pool on each datastore and a fleet of four over both; a linked clone beside it", async () => {
  const program = await import("../../examples/pulumi/index");
  expect(await valueOf(program.fleetId)).toBe("example-web-fleet-id");
  expect(await Promise.all(program.poolIds.map(valueOf))).toEqual(["example-web-pool-0-id", "example-web-pool-1-id"]);
  const pools = registered.filter((r) => r.type === "pulumi-nodejs:dynamic/clonefleet:DiskPool");
  expect(pools.map((p) => [p.inputs.templateId, p.inputs.datastoreId, p.inputs.size]).sort()).toEqual([
    ["example-base-id", "example-replica-store-id", 2],
    ["example-base-id", "example-store-id", 2],
  ]);
  const fleet = registered.find((r) => r.type === "pulumi-nodejs:dynamic/clonefleet:Fleet")!;
  expect(fleet.inputs).toMatchObject({ templateId: "example-base-id", size: 4, namePrefix: "web", datastoreIds: ["example-store-id", "example-replica-store-id"] });
  expect(await valueOf(program.fleetProvisionedBy)).toEqual({ "web-1": "pool", "web-2": "pool", "web-3": "pool", "web-4": "pool" });
  const vm = registered.find((r) => r.type === "pulumi-nodejs:dynamic/clonefleet:Vm")!;
  expect(vm.inputs).toMatchObject({ name: "scratch", templateId: "example-base-id", cloneMode: "linked" });
  const vms = registered.filter((r) => r.type === "pulumi-nodejs:dynamic/clonefleet:Vm");
  // The host lookup reached the real engine: its host local, up.
  expect(vms.find((r) => r.name === "example-app")!.inputs).toMatchObject({
    name: "app",
    templateId: "example-base-id",
    cloneMode: "full",
    powerState: "running",
    hostId: "local",
    migrationNotifyTimeoutSeconds: 10,
    migrationOnMissingAck: "abort",
  });
  expect(await valueOf(program.localHostStatus)).toBe("up");
  expect(vms.find((r) => r.name === "example-app-fork")!.inputs).toMatchObject({ name: "app-fork", forkOf: "example-app-id", powerState: "running" });
});

test("the example snapshots the running app VM", async () => {
  const program = await import("../../examples/pulumi/index");
  const snap = registered.find((r) => r.type === "pulumi-nodejs:dynamic/clonefleet:Snapshot")!;
  expect(snap).toMatchObject({ name: "example-app-snapshot", inputs: expect.objectContaining({ vmId: "example-app-id", name: "nightly" }) });
  expect(await valueOf(program.appSnapshotId)).toBe("example-app-snapshot-id");
});

test("the example captures the running app as an instant-clone parent and starts two instant clones of it", async () => {
  const program = await import("../../examples/pulumi/index");
  const parent = registered.find((r) => r.type === "pulumi-nodejs:dynamic/clonefleet:InstantCloneParent")!;
  expect(parent).toMatchObject({ name: "example-app-clones-parent", inputs: expect.objectContaining({ sourceVmId: "example-app-id", name: "app-base", warmCount: 1 }) });
  expect(await valueOf(program.appParentId)).toBe("example-app-clones-parent-id");
  const clones = registered.filter((r) => r.type === "pulumi-nodejs:dynamic/clonefleet:Vm" && r.inputs.instantCloneOf !== undefined);
  expect(clones.map((c) => [c.inputs.name, c.inputs.instantCloneOf, c.inputs.powerState])).toEqual([
    ["app-clone-1", "example-app-clones-parent-id", "running"],
    ["app-clone-2", "example-app-clones-parent-id", "running"],
  ]);
  expect(await valueOf(program.appCloneIds)).toEqual(["example-app-clones-clone-1-id", "example-app-clones-clone-2-id"]);
});
