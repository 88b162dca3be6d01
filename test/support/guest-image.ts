import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { PROJECT_ROOT } from "../../engine/version";

/** The repository root (found from sources and from dist/ alike: benchmarks use this too). */
const REPO = PROJECT_ROOT;

/** The test guest built by scripts/build-guest.sh (all paths absolute). */
export interface TestGuest {
  dir: string;
  kernel: string;
  initrd: string;
  /** The guest's root disk; VMs run on an overlay of it, never on it. */
  rootDisk: string;
  /** Base kernel command line; tests append `cf.*` parameters. */
  cmdline: string;
  readyLine: string;
  manifest: Record<string, unknown>;
}

/** The guest, or why it cannot be had on this machine (the tests then skip). */
export type TestGuestResult = { ok: true; guest: TestGuest } | { ok: false; reason: string };

let cached: TestGuestResult | undefined;

/**
 * Builds the test guest if needed (cached under .cache/guest/) and describes it. Synchronous so
 * a test file can pick `describe` or `describe.skip` at load time. Exit status 2 of the build
 * script means "cannot build here" (not root, no network) and gives `ok: false`; any other
 * failure throws, so a broken build fails the tests instead of skipping them.
 */
export function ensureTestGuest(): TestGuestResult {
  if (cached) return cached;
  const dir = process.env.CLONEFLEET_GUEST_DIR ?? path.join(REPO, ".cache", "guest");
  const r = spawnSync("bash", [path.join(REPO, "scripts", "build-guest.sh")], { encoding: "utf8", env: { ...process.env, CLONEFLEET_GUEST_DIR: dir }, timeout: 600000 });
  if (r.status === 2) {
    const lines = (r.stderr ?? "").trim().split("\n");
    const reason = [...lines].reverse().find((l) => l.includes("cannot build")) ?? lines[lines.length - 1] ?? "";
    cached = { ok: false, reason: reason.replace(/^build-guest: /, "") || "build-guest.sh cannot build here" };
    return cached;
  }
  if (r.status !== 0) {
    throw new Error(`scripts/build-guest.sh failed (status ${r.status}, signal ${r.signal}): ${r.stderr}`);
  }
  const manifest = JSON.parse(readFileSync(path.join(dir, "manifest.json"), "utf8")) as {
    cmdline: string;
    ready_line: string;
    files: { vmlinuz: { path: string }; initrd: { path: string }; root_disk: { path: string } };
  };
  cached = {
    ok: true,
    guest: {
      dir,
      kernel: path.join(dir, manifest.files.vmlinuz.path),
      initrd: path.join(dir, manifest.files.initrd.path),
      rootDisk: path.join(dir, manifest.files.root_disk.path),
      cmdline: manifest.cmdline,
      readyLine: manifest.ready_line,
      manifest: manifest as unknown as Record<string, unknown>,
    },
  };
  return cached;
}
