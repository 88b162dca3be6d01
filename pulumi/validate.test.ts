import { UNKNOWN_VALUE } from "./provider-kit";
import { validateConnection, validateDatastoreInputs, validateReplicaInputs, validateTemplateInputs, withReplicaDefaults, withTemplateDefaults } from "./validate";

const props = (failures: { property: string }[]) => failures.map((f) => f.property).sort();

test("a good datastore has no failures; a bad one gathers every failure", () => {
  expect(validateDatastoreInputs({ name: "fast-1", path: "/srv/fast" })).toEqual([]);
  expect(props(validateDatastoreInputs({ name: "a/b", path: "srv/../x" }))).toEqual(["name", "path"]);
  expect(validateDatastoreInputs({})).toEqual([
    { property: "name", reason: "is required" },
    { property: "path", reason: "is required" },
  ]);
});

test("template inputs are checked in camelCase, with the engine's ranges", () => {
  const good = { name: "base", datastoreId: "ds-1", sourcePath: "/img/base.qcow2" };
  expect(validateTemplateInputs(good)).toEqual([]);
  expect(validateTemplateInputs({ ...good, memoryMb: 512, vcpus: 4, kernel: "/boot/vmlinuz", initrd: "/boot/initrd", cmdline: "console=ttyS0" })).toEqual([]);
  expect(props(validateTemplateInputs({ ...good, memoryMb: 8, vcpus: 1.5, kernel: "vmlinuz" }))).toEqual(["kernel", "memoryMb", "vcpus"]);
  expect(props(validateTemplateInputs({ ...good, cmdline: "quiet" }))).toEqual(["cmdline"]);
  expect(props(validateTemplateInputs({ ...good, datastoreId: "" }))).toEqual(["datastoreId"]);
});

test("unknown values are left for later", () => {
  expect(validateTemplateInputs({ name: UNKNOWN_VALUE, datastoreId: UNKNOWN_VALUE, sourcePath: UNKNOWN_VALUE, memoryMb: UNKNOWN_VALUE })).toEqual([]);
  expect(validateConnection({ endpoint: UNKNOWN_VALUE, token: UNKNOWN_VALUE })).toEqual([]);
});

test("the endpoint must be an http(s) URL", () => {
  expect(validateConnection({ endpoint: "http://127.0.0.1:7420", token: "t" })).toEqual([]);
  expect(validateConnection({ endpoint: "127.0.0.1:7420" })[0]).toMatchObject({ property: "endpoint" });
  expect(validateConnection({ endpoint: "unix:///run/cf.sock" })[0].reason).toMatch(/http or https/);
  expect(validateConnection({ token: 42 })[0]).toMatchObject({ property: "token" });
});

test("defaults fill only what is missing", () => {
  expect(withTemplateDefaults({ name: "x" })).toEqual({ name: "x", memoryMb: 256, vcpus: 1 });
  expect(withTemplateDefaults({ memoryMb: 1024, vcpus: 2 })).toEqual({ memoryMb: 1024, vcpus: 2 });
});

test("a replica takes exactly one source, a target, and no inSync of false", () => {
  expect(validateReplicaInputs({ templateId: "tpl-1", targetDatastoreId: "ds-2" })).toEqual([]);
  expect(validateReplicaInputs({ sourceDiskPath: "/srv/a/disk.qcow2", targetDatastoreId: "ds-2", verify: true, inSync: true })).toEqual([]);
  const both = validateReplicaInputs({ sourceDiskPath: "/srv/a/disk.qcow2", templateId: "tpl-1", targetDatastoreId: "ds-2" });
  expect(props(both)).toEqual(["sourceDiskPath", "templateId"]);
  expect(both[0].reason).toMatch(/exactly one/);
  expect(validateReplicaInputs({})).toEqual([
    { property: "sourceDiskPath", reason: expect.stringMatching(/exactly one of sourceDiskPath .* and templateId/) },
    { property: "targetDatastoreId", reason: "is required" },
  ]);
  expect(props(validateReplicaInputs({ sourceDiskPath: "disk.qcow2", targetDatastoreId: "", verify: "yes", inSync: false }))).toEqual([
    "inSync",
    "sourceDiskPath",
    "targetDatastoreId",
    "verify",
  ]);
  // An unknown template id (a template created in the same update) counts as a source.
  expect(validateReplicaInputs({ templateId: UNKNOWN_VALUE, targetDatastoreId: UNKNOWN_VALUE })).toEqual([]);
  expect(withReplicaDefaults({ templateId: "tpl-1" })).toEqual({ templateId: "tpl-1", verify: false, inSync: true });
  expect(withReplicaDefaults({ verify: true, inSync: false })).toEqual({ verify: true, inSync: false });
});
