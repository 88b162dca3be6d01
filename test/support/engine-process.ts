import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import { ClonefleetClient } from "../../engine/client";
import { PROJECT_ROOT } from "../../engine/version";
import { testInventoryFor } from "./test-inventory";

/** An engine running as its own process from the built CLI, as users run it. */
export interface EngineProcess {
  child: ChildProcess;
  url: string;
  client: ClonefleetClient;
  stderr: () => string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit: no chance to clean up. */
  kill(): Promise<void>;
}

const START_TIMEOUT_MS = 60_000;

/** Starts `clonefleet engine serve` (from dist/) on a free loopback port and waits until it listens. */
export async function spawnEngine(stateDir: string, extraArgs: string[] = [], extraEnv: Record<string, string> = {}): Promise<EngineProcess> {
  const bin = path.join(PROJECT_ROOT, "bin", "clonefleet");
  const inventory = await testInventoryFor(stateDir);
  const child = spawn(process.execPath, [bin, "engine", "serve", "--state-dir", stateDir, "--listen", "127.0.0.1:0", ...(inventory ? ["--inventory", inventory] : []), ...extraArgs], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, CLONEFLEET_LOG_LEVEL: "warn", ...extraEnv },
  });
  let err = "";
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  let url: string;
  try {
    url = await new Promise<string>((resolve, reject) => {
      // Generous: a restart recovers interrupted jobs before it listens, and CI machines are loaded.
      const timer = setTimeout(() => reject(new Error(`engine did not start within ${START_TIMEOUT_MS / 1000} s; its stderr:\n${err}`)), START_TIMEOUT_MS);
      child.stderr!.on("data", (d: Buffer) => {
        err += d.toString();
        const m = /listening on (http:\/\/\S+)/.exec(err);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`engine exited with ${code ?? signal}:\n${err}`));
      });
    });
  } catch (e) {
    // An engine that did not come up must not outlive the test (it would also keep Jest alive).
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
    throw e;
  }
  const token = (await import("node:fs")).readFileSync(path.join(stateDir, "token"), "utf8").trim();
  return {
    child,
    url,
    client: new ClonefleetClient({ endpoint: url, token }),
    stderr: () => err,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}
