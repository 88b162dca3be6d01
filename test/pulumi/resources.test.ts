/**
 * The resource classes under the SDK's mocks: what they register (types, camelCase inputs, the
 * serialized provider, secrets) and how they resolve the connection.
 */
import * as pulumi from "@pulumi/pulumi";
import { Datastore, DATASTORE_REPLACE_KEYS, Replica, REPLICA_REPLACE_KEYS, Template, TEMPLATE_REPLACE_KEYS } from "../../pulumi";

interface Registered {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  id?: string;
}

const registered: Registered[] = [];


beforeAll(async () => {
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        registered.push({ type: args.type, name: args.name, inputs: args.inputs, id: args.id });
        // Echo the inputs and fill what the engine would compute.
        const computed: Record<string, unknown> = args.type.endsWith(":Datastore")
          ? {}
          : args.type.endsWith(":Replica")
            ? { diskPath: "/srv/replicas/rep/0.qcow2", copiedBytes: 4096, layersCopied: 1, layersReused: 0, reusedLayers: [], chain: [], inSync: true }
            : { diskPath: `/srv/${args.inputs.name}.qcow2`, contentId: "0".repeat(32), virtualSizeBytes: 16777216, state: "ready" };
        return { id: args.id || `${args.name}-id`, state: { ...args.inputs, ...computed } };
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
  delete process.env.CLONEFLEET_ENDPOINT;
  delete process.env.CLONEFLEET_TOKEN;
});

function valueOf<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => o.apply((v) => resolve(v)));
}

/** The registration of `name`, once the SDK has sent it to the (mock) monitor. */
async function registration(res: pulumi.CustomResource, name: string): Promise<Registered> {
  await valueOf(res.urn);
  const r = registered.find((x) => x.name === name);
  if (!r) throw new Error(`${name} was not registered`);
  return r;
}

function isSecretWrapper(v: unknown): boolean {
  return typeof v === "object" && v !== null && (v as Record<string, unknown>)[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig;
}

test("a Datastore registers camelCase inputs, a serialized provider and a secret token", async () => {
  let seenOpts: pulumi.CustomResourceOptions | undefined;
  const ds = new Datastore(
    "ds",
    { name: "fast", path: "/srv/fast", endpoint: "http://127.0.0.1:7999", token: "s3cret-token" },
    { transformations: [(a) => ((seenOpts = a.opts as pulumi.CustomResourceOptions), undefined)] },
  );
  const reg = await registration(ds, "ds");
  expect(reg.type).toBe("pulumi-nodejs:dynamic/clonefleet:Datastore");
  expect(Object.keys(reg.inputs).sort()).toEqual(["__provider", "endpoint", "name", "path", "token"]);
  expect(reg.inputs).toMatchObject({ name: "fast", path: "/srv/fast", endpoint: "http://127.0.0.1:7999" });
  expect(isSecretWrapper(reg.inputs.token)).toBe(true);
  expect(typeof reg.inputs.__provider).toBe("string");
  expect(reg.inputs.__provider as string).toContain("exports.handler");
  expect(reg.inputs.__provider as string).not.toContain("s3cret-token");
  expect(seenOpts?.additionalSecretOutputs).toEqual(["token"]);

  expect(await valueOf(ds.id)).toBe("ds-id");
  expect(await valueOf(ds.name)).toBe("fast");
  expect(await pulumi.isSecret(ds.token)).toBe(true);
  expect(await pulumi.isSecret(ds.endpoint)).toBe(false);
});

test("the caller's additionalSecretOutputs are kept beside the token", async () => {
  let seenOpts: pulumi.CustomResourceOptions | undefined;
  const ds = new Datastore(
    "ds-extra",
    { name: "x", path: "/srv/x", token: "t" },
    { additionalSecretOutputs: ["path"], transformations: [(a) => ((seenOpts = a.opts as pulumi.CustomResourceOptions), undefined)] },
  );
  await registration(ds, "ds-extra");
  expect(seenOpts?.additionalSecretOutputs).toEqual(["path", "token"]);
});

test("the connection comes from args, then clonefleet config, then the environment", async () => {
  process.env.CLONEFLEET_ENDPOINT = "http://10.0.0.1:7420";
  process.env.CLONEFLEET_TOKEN = "env-token";
  const fromEnv = new Datastore("env", { name: "env", path: "/srv/env" });
  const reg = await registration(fromEnv, "env");
  expect(reg.inputs.endpoint).toBe("http://10.0.0.1:7420");
  expect(isSecretWrapper(reg.inputs.token)).toBe(true);
  expect(await valueOf(fromEnv.token)).toBe("env-token");

  pulumi.runtime.setConfig("clonefleet:endpoint", "http://10.0.0.2:7420");
  pulumi.runtime.setConfig("clonefleet:token", "config-token");
  try {
    const fromConfig = new Datastore("cfg", { name: "cfg", path: "/srv/cfg" });
    expect((await registration(fromConfig, "cfg")).inputs.endpoint).toBe("http://10.0.0.2:7420");
    expect(await valueOf(fromConfig.token)).toBe("config-token");
    expect(await pulumi.isSecret(fromConfig.token)).toBe(true);

    const explicit = new Datastore("arg", { name: "arg", path: "/srv/arg", endpoint: "http://10.0.0.3:7420", token: "arg-token" });
    expect((await registration(explicit, "arg")).inputs.endpoint).toBe("http://10.0.0.3:7420");
    expect(await valueOf(explicit.token)).toBe("arg-token");
  } finally {
    pulumi.runtime.setAllConfig({});
  }
});

test("with nothing configured the endpoint is the local default and no token is sent", async () => {
  const ds = new Datastore("bare", { name: "bare", path: "/srv/bare" });
  const reg = await registration(ds, "bare");
  expect(reg.inputs.endpoint).toBe("http://127.0.0.1:7420");
  expect(reg.inputs).not.toHaveProperty("token");
});

test("a Template takes the datastore's id and exposes camelCase outputs", async () => {
  const ds = new Datastore("store", { name: "store", path: "/srv/store", token: "t" });
  const tpl = new Template("tpl", {
    name: "base",
    datastoreId: ds.id,
    sourcePath: "/images/base.qcow2",
    memoryMb: 512,
    vcpus: 2,
    token: "t",
  });
  const reg = await registration(tpl, "tpl");
  expect(reg.type).toBe("pulumi-nodejs:dynamic/clonefleet:Template");
  expect(reg.inputs).toMatchObject({ name: "base", datastoreId: "store-id", sourcePath: "/images/base.qcow2", memoryMb: 512, vcpus: 2 });
  expect(Object.keys(reg.inputs).filter((k) => k.includes("_") && k !== "__provider")).toEqual([]);
  expect(await valueOf(tpl.diskPath)).toBe("/srv/base.qcow2");
  expect(await valueOf(tpl.contentId)).toBe("0".repeat(32));
  expect(await valueOf(tpl.virtualSizeBytes)).toBe(16777216);
  expect(await valueOf(tpl.datastoreId)).toBe("store-id");
  expect(await pulumi.isSecret(tpl.token)).toBe(true);
});

test("a Replica takes a template's id and a datastore's id, leaves unset inputs out, and exposes camelCase outputs", async () => {
  const ds = new Datastore("backup", { name: "backup", path: "/srv/backup", token: "t" });
  const rep = new Replica("rep", { templateId: "tpl-0123456789abcdef", targetDatastoreId: ds.id, token: "t" });
  const reg = await registration(rep, "rep");
  expect(reg.type).toBe("pulumi-nodejs:dynamic/clonefleet:Replica");
  expect(reg.inputs).toMatchObject({ templateId: "tpl-0123456789abcdef", targetDatastoreId: "backup-id" });
  expect(reg.inputs).not.toHaveProperty("sourceDiskPath");
  expect(reg.inputs).not.toHaveProperty("inSync");
  expect(Object.keys(reg.inputs).filter((k) => k.includes("_") && k !== "__provider")).toEqual([]);
  expect(await valueOf(rep.diskPath)).toBe("/srv/replicas/rep/0.qcow2");
  expect(await valueOf(rep.copiedBytes)).toBe(4096);
  expect(await valueOf(rep.inSync)).toBe(true);
  expect(await pulumi.isSecret(rep.token)).toBe(true);
});

test("get reads an existing resource by id", async () => {
  const ds = Datastore.get("existing", "ds-0123456789abcdef", { endpoint: "http://127.0.0.1:7420", token: "t" });
  const reg = await registration(ds, "existing");
  expect(reg.id).toBe("ds-0123456789abcdef");
  expect(await valueOf(ds.id)).toBe("ds-0123456789abcdef");
});

test("replace keys match the Terraform schema's replace attributes in camelCase", () => {
  expect([...DATASTORE_REPLACE_KEYS]).toEqual(["name", "path", "shared", "hostId"]);
  expect([...TEMPLATE_REPLACE_KEYS]).toEqual(["name", "datastoreId", "sourcePath", "memoryMb", "vcpus", "kernel", "initrd", "cmdline"]);
  expect([...REPLICA_REPLACE_KEYS]).toEqual(["sourceDiskPath", "templateId", "targetDatastoreId"]);
});
