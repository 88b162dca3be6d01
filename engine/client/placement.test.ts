import { ApiError } from "./errors";
import { planPlacement, type PlacedVm, type PlacementWant } from "./placement";

const vm = (over: Partial<PlacedVm> = {}): PlacedVm => ({
  name: "app",
  host_id: "local",
  power_state: "running",
  migration_notify_timeout_seconds: 0,
  migration_on_missing_ack: "proceed",
  ...over,
});
const want = (over: Partial<PlacementWant> = {}): PlacementWant => ({
  hostId: null,
  powerState: "running",
  migrationNotifyTimeoutSeconds: null,
  migrationOnMissingAck: null,
  ...over,
});

describe("planPlacement", () => {
  test("nothing to do when the VM is as declared, or the host is left undeclared", () => {
    expect(planPlacement(vm(), want({ hostId: "local", migrationNotifyTimeoutSeconds: 0, migrationOnMissingAck: "proceed" }))).toEqual([]);
    expect(planPlacement(vm({ host_id: "b" }), want())).toEqual([]);
  });

  test("a running VM declared on another host migrates there", () => {
    expect(planPlacement(vm(), want({ hostId: "b" }))).toEqual([{ kind: "migrate", fromHostId: "local", toHostId: "b" }]);
  });

  test("the policy is set before the migration, so the migration follows the new policy", () => {
    expect(planPlacement(vm(), want({ hostId: "b", migrationNotifyTimeoutSeconds: 5, migrationOnMissingAck: "abort" }))).toEqual([
      { kind: "set_policy", body: { migration_notify_timeout_seconds: 5, migration_on_missing_ack: "abort" } },
      { kind: "migrate", fromHostId: "local", toHostId: "b" },
    ]);
    expect(planPlacement(vm({ migration_notify_timeout_seconds: 5 }), want({ migrationNotifyTimeoutSeconds: 5, migrationOnMissingAck: "abort" }))).toEqual([
      { kind: "set_policy", body: { migration_on_missing_ack: "abort" } },
    ]);
  });

  test("a stopped VM declared running elsewhere starts where it is, then migrates", () => {
    expect(planPlacement(vm({ power_state: "stopped" }), want({ hostId: "b" }))).toEqual([
      { kind: "start" },
      { kind: "migrate", fromHostId: "local", toHostId: "b" },
    ]);
  });

  test("a running VM declared stopped elsewhere migrates, then stops", () => {
    expect(planPlacement(vm(), want({ hostId: "b", powerState: "stopped" }))).toEqual([
      { kind: "migrate", fromHostId: "local", toHostId: "b" },
      { kind: "stop" },
    ]);
  });

  test("a stopped VM that is to move but stay stopped is refused, naming host_id", () => {
    let err: unknown;
    try {
      planPlacement(vm({ power_state: "stopped" }), want({ hostId: "b", powerState: "stopped" }));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 409, code: "CF_CONFLICT", field: "host_id" });
    expect((err as Error).message).toMatch(/^host_id: VM app is stopped on host local, and only a running VM moves/);
  });

  test("power changes alone start or stop", () => {
    expect(planPlacement(vm({ power_state: "stopped" }), want())).toEqual([{ kind: "start" }]);
    expect(planPlacement(vm(), want({ powerState: "stopped" }))).toEqual([{ kind: "stop" }]);
    // ha_restart is policy too: set in place when it differs, left alone when undeclared.
    expect(planPlacement(vm({ ha_restart: false }), want({ haRestart: true }))).toEqual([{ kind: "set_policy", body: { ha_restart: true } }]);
    expect(planPlacement(vm({ ha_restart: true }), want({ haRestart: null }))).toEqual([]);
  });
});
