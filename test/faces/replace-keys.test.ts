import { DATASTORE_REPLACE_KEYS } from "../../pulumi/datastore";
import { DISK_POOL_REPLACE_KEYS } from "../../pulumi/disk-pool";
import { FLEET_REPLACE_KEYS } from "../../pulumi/fleet";
import { INSTANT_CLONE_PARENT_REPLACE_KEYS } from "../../pulumi/instant-clone-parent";
import { VM_IN_PLACE_KEYS, VM_REPLACE_KEYS } from "../../pulumi/vm";
import { REPLICA_REPLACE_KEYS } from "../../pulumi/replica";
import { SNAPSHOT_REPLACE_KEYS } from "../../pulumi/snapshot";
import { TEMPLATE_REPLACE_KEYS } from "../../pulumi/template";
import { resources } from "../../provider/resources";

/** What forces replacement must be the same in Terraform and Pulumi, or the two faces disagree on plans. */
const camel = (s: string) => s.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
const replaceAttrs = (typeName: string) => {
  const r = resources.find((x) => x.typeName === typeName);
  if (!r) throw new Error(`${typeName} is not a Terraform resource`);
  return Object.entries(r.schema.attributes)
    .filter(([, spec]) => spec.replace)
    .map(([name]) => camel(name))
    .sort();
};

test.each([
  ["clonefleet_datastore", DATASTORE_REPLACE_KEYS],
  ["clonefleet_template", TEMPLATE_REPLACE_KEYS],
  ["clonefleet_replica", REPLICA_REPLACE_KEYS],
  ["clonefleet_disk_pool", DISK_POOL_REPLACE_KEYS],
  ["clonefleet_vm", VM_REPLACE_KEYS],
  ["clonefleet_fleet", FLEET_REPLACE_KEYS],
  ["clonefleet_snapshot", SNAPSHOT_REPLACE_KEYS],
  ["clonefleet_instant_clone_parent", INSTANT_CLONE_PARENT_REPLACE_KEYS],
])("%s: Pulumi's replace keys equal Terraform's RequiresReplace attributes", (typeName, keys) => {
  expect([...keys].sort()).toEqual(replaceAttrs(typeName));
});

test("every Terraform resource has a Pulumi counterpart checked here", () => {
  expect(resources.map((r) => r.typeName).sort()).toEqual([
    "clonefleet_datastore",
    "clonefleet_disk_pool",
    "clonefleet_fleet",
    "clonefleet_instant_clone_parent",
    "clonefleet_replica",
    "clonefleet_snapshot",
    "clonefleet_template",
    "clonefleet_vm",
  ]);
});

test("clonefleet_vm and Pulumi's Vm change the same inputs in place (power, stop timeout, host by live migration, migration policy, HA restart)", () => {
  const vm = resources.find((x) => x.typeName === "clonefleet_vm")!;
  const inPlace = Object.entries(vm.schema.attributes)
    .filter(([, spec]) => spec.mode !== "computed" && !spec.replace)
    .map(([name]) => camel(name))
    .sort();
  expect([...VM_IN_PLACE_KEYS].sort()).toEqual(inPlace);
  expect(inPlace).toEqual(["haRestart", "hostId", "migrationNotifyTimeoutSeconds", "migrationOnMissingAck", "powerState", "stopTimeoutSeconds"]);
});
