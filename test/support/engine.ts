import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import pino from "pino";
import { startEngine, type EngineOptions, type RunningEngine } from "../../engine/api/engine";
import { ClonefleetClient } from "../../engine/client";
import { testInventoryFor } from "./test-inventory";

const run = promisify(execFile);

/** A real engine on loopback in a fresh temp folder, for tests; `stop()` removes everything. */
export interface TestEngine {
  engine: RunningEngine;
  client: ClonefleetClient;
  /** Temp folder holding `state/` and whatever the test makes. */
  dir: string;
  stateDir: string;
  stop(): Promise<void>;
}

/** Starts an engine with its own state folder on a free loopback port. */
export async function startTestEngine(opts: { dir?: string; engine?: Partial<EngineOptions> } = {}): Promise<TestEngine> {
  const dir = opts.dir ?? (await fs.mkdtemp(path.join(os.tmpdir(), "cf-test-")));
  const stateDir = path.join(dir, "state");
  const engine = await startEngine({
    stateDir,
    inventory: await testInventoryFor(stateDir),
    host: "127.0.0.1",
    port: 0,
    log: pino({ level: process.env.CLONEFLEET_TEST_LOG ?? "silent" }),
    ...opts.engine,
  });
  const client = new ClonefleetClient({ endpoint: engine.url, token: engine.token });
  return {
    engine,
    client,
    dir,
    stateDir,
    stop: async () => {
      await engine.close();
      if (!opts.dir) await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

/** A small raw disk image with a recognisable pattern at offset 0, made with qemu-img/qemu-io. */
export async function makeRawImage(file: string, sizeMb = 16, pattern = 0x5a): Promise<string> {
  await run("qemu-img", ["create", "-f", "raw", file, `${sizeMb}M`]);
  await run("qemu-io", ["-f", "raw", "-c", `write -P ${pattern} 0 64k`, file]);
  return file;
}

/** True when the guest-visible bytes at offset 0 of `file` hold `pattern` (read through qemu-io). */
export async function hasPattern(file: string, pattern = 0x5a, format = "qcow2"): Promise<boolean> {
  const { stdout } = await run("qemu-io", ["-r", "-f", format, "-c", `read -P ${pattern} 0 64k`, file]).catch((e: { stdout: string }) => ({ stdout: e.stdout ?? "" }));
  return !/Pattern verification failed/.test(stdout) && /read 65536\/65536 bytes/.test(stdout);
}
