import { promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { AccelUnavailableError, KVM_DEVICE, isAccelSetting, probeKvm, resolveAccel } from "./accel";

let dir: string;

beforeEach(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), "cf-accel-"));
});

afterEach(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

// The device path is a parameter so both outcomes run on any machine: a file we can open
// read-write stands for a usable /dev/kvm, a missing path for an absent one.
describe("resolveAccel", () => {
  test("tcg is always tcg, without looking at the device", async () => {
    expect(await resolveAccel("tcg", { device: path.join(dir, "missing") })).toMatchObject({ accel: "tcg", setting: "tcg" });
  });

  test("auto picks kvm when the device opens read-write", async () => {
    const dev = path.join(dir, "kvm");
    await fsp.writeFile(dev, "");
    const choice = await resolveAccel("auto", { device: dev });
    expect(choice).toMatchObject({ accel: "kvm", setting: "auto" });
    expect(choice.reason).toContain(dev);
  });

  test("auto falls back to tcg when the device is missing or read-only, and says why", async () => {
    const missing = await resolveAccel("auto", { device: path.join(dir, "missing") });
    expect(missing).toMatchObject({ accel: "tcg", setting: "auto" });
    expect(missing.reason).toMatch(/ENOENT/);
    if (process.getuid?.() !== 0) {
      // Root opens a read-only file read-write anyway, so this half only runs unprivileged.
      const ro = path.join(dir, "ro");
      await fsp.writeFile(ro, "");
      await fsp.chmod(ro, 0o444);
      expect((await resolveAccel("auto", { device: ro })).accel).toBe("tcg");
    }
  });

  test("kvm asked for but unavailable is an error naming the device", async () => {
    const dev = path.join(dir, "missing");
    await expect(resolveAccel("kvm", { device: dev })).rejects.toBeInstanceOf(AccelUnavailableError);
    await expect(resolveAccel("kvm", { device: dev })).rejects.toThrow(dev);
  });

  test("on this machine auto agrees with whether /dev/kvm opens", async () => {
    const usable = (await probeKvm()) === null;
    expect((await resolveAccel("auto")).accel).toBe(usable ? "kvm" : "tcg");
    expect(KVM_DEVICE).toBe("/dev/kvm");
  });

  test("isAccelSetting accepts the three settings only", () => {
    expect(["auto", "kvm", "tcg"].every(isAccelSetting)).toBe(true);
    expect(isAccelSetting("hvf")).toBe(false);
    expect(isAccelSetting(undefined)).toBe(false);
  });
});
