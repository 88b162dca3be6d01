/**
 * Every resource of the Pulumi package, made through the engine API, imported (a read from the
 * id alone) and then refreshed twice through the SDK's dynamic-provider gRPC server against a
 * real engine with real QEMU (TCG, firmware-only VMs): with nothing managed changed, the two
 * refreshes give identical outputs, even when something else writes to the datastores'
 * filesystem in between (free space moves; it is getDatastore's, not an output).
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import { datastoreProvider, diskPoolProvider, fleetProvider, getDatastore, instantCloneParentProvider, replicaProvider, snapshotProvider, templateProvider, vmProvider } from "../../pulumi";
import { startTestEngine, type TestEngine } from "../support/engine";
import { makeEveryResource, type EveryResource } from "../support/every-resource";
import { killAllVms } from "../support/vms";
import { DynamicProviderProcess, makeProjectDirs, serializeProvider, startEngineStub, urnOf, type EngineStub, type ProjectDirs } from "./support/provider-host";

jest.setTimeout(300_000);

type Kind = Parameters<typeof urnOf>[0];

let engine: TestEngine;
let tmpfsDir: string;
let dirs: ProjectDirs;
let stub: EngineStub;
let server: DynamicProviderProcess;
let ids: EveryResource;

const providers: Record<Kind, pulumi.dynamic.ResourceProvider> = {
  Datastore: datastoreProvider,
  Template: templateProvider,
  Replica: replicaProvider,
  DiskPool: diskPoolProvider,
  Vm: vmProvider,
  Fleet: fleetProvider,
  Snapshot: snapshotProvider,
  InstantCloneParent: instantCloneParentProvider,
};

beforeAll(async () => {
  engine = await startTestEngine({ engine: { accel: "tcg" } });
  tmpfsDir = engine.engine.runner.settings.parentTmpfsDir!;
  dirs = await makeProjectDirs();
  stub = await startEngineStub();
  server = await DynamicProviderProcess.launch(dirs.project, stub.address);
  await server.configure({});
  ids = await makeEveryResource(engine.client, engine.dir);
});

afterAll(async () => {
  await server?.stop();
  await stub?.stop();
  await dirs?.remove();
  if (engine) await killAllVms(path.join(engine.stateDir, "vms"));
  await engine?.stop();
  if (tmpfsDir) await fs.rm(tmpfsDir, { recursive: true, force: true });
});

test("every resource refreshed twice with nothing changed reads the same outputs", async () => {
  const objects: [Kind, string, string][] = [
    ["Datastore", "main", ids.datastore],
    ["Datastore", "other", ids.otherDatastore],
    ["Template", "tiny", ids.template],
    ["Replica", "tiny", ids.replica],
    ["DiskPool", "main", ids.pool],
    ["Fleet", "web", ids.fleet],
    ["Vm", "plain", ids.vm],
    ["Vm", "fork", ids.fork],
    ["Snapshot", "nightly", ids.snapshot],
    ["Vm", "app", ids.parentSource],
    ["InstantCloneParent", "base", ids.parent],
    ["Vm", "clone", ids.instantClone],
  ];
  const conn = { endpoint: engine.engine.url, token: engine.engine.token! };
  const texts = new Map<Kind, string>();
  for (const [kind] of objects) if (!texts.has(kind)) texts.set(kind, (await serializeProvider(providers[kind])).text);

  const imported = new Map<string, { props: Record<string, unknown>; inputs: Record<string, unknown> }>();
  for (const [kind, name, id] of objects) {
    const r = await server.read(urnOf(kind, name), id, { ...conn, __provider: texts.get(kind)! }).catch((e: Error) => { throw new Error(`${kind} ${name}: ${e.message}`); });
    expect({ name, found: r.id }).toEqual({ name, found: id });
    imported.set(name + kind, { props: r.properties, inputs: r.inputs ?? {} });
  }
  const refresh = async () => {
    const out: Record<string, unknown> = {};
    for (const [kind, name, id] of objects) {
      const i = imported.get(name + kind)!;
      out[`${kind}/${name}`] = (await server.read(urnOf(kind, name), id, i.props, i.inputs)).properties;
    }
    return out;
  };
  const first = await refresh();
  // Something outside clonefleet writes to the same filesystem: no managed object changes.
  const scratch = path.join(engine.dir, "ds", "scratch.bin");
  await fs.writeFile(scratch, Buffer.alloc(16 * 1024 * 1024, 1));
  const second = await refresh();
  await fs.rm(scratch);
  for (const key of Object.keys(first)) expect({ key, outs: second[key] }).toEqual({ key, outs: first[key] });
  expect(first["Datastore/main"]).not.toHaveProperty("freeBytes");
  expect(first["DiskPool/main"]).not.toHaveProperty("ready");

  // The space is there to read, measured when asked.
  const space = await getDatastore({ id: ids.datastore, ...conn });
  expect(space).toMatchObject({ id: ids.datastore, reachable: true });
  expect(space.freeBytes).toBeGreaterThan(0);
  expect(space.totalBytes!).toBeGreaterThanOrEqual(space.freeBytes!);
  await expect(getDatastore({ name: "nope", ...conn })).rejects.toThrow(/CF_NOT_FOUND: .*name: no datastore "nope" on the engine/);
});
