import { spawn } from "node:child_process";
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";
import { QemuProcess, pollUntil, probeVm } from "../../engine/hypervisor";
import { VmTracker, firmwareSpec, tempDir } from "./helpers";

const vms = new VmTracker();
afterAll(() => vms.cleanup());

/** Transpiles engine/hypervisor to plain CommonJS in `out`, so a separate node process can run it as an engine would. */
async function transpileHypervisor(out: string): Promise<void> {
  const root = path.resolve(__dirname, "..", "..", "engine", "hypervisor");
  const walk = async (dir: string): Promise<string[]> => {
    const entries = await fsp.readdir(dir, { withFileTypes: true });
    const files = await Promise.all(entries.map((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : Promise.resolve([path.join(dir, e.name)]))));
    return files.flat().filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"));
  };
  for (const file of await walk(root)) {
    const js = ts.transpileModule(await fsp.readFile(file, "utf8"), {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    }).outputText;
    const dest = path.join(out, path.relative(root, file)).replace(/\.ts$/, ".js");
    await fsp.mkdir(path.dirname(dest), { recursive: true });
    await fsp.writeFile(dest, js);
  }
}

test("a VM outlives the engine process that started it, and a new engine reattaches", async () => {
  const lib = vms.dir(await tempDir("cf-lib-"));
  await transpileHypervisor(lib);
  const spec = firmwareSpec(vms.dir(await tempDir()));
  const script = `
    const { QemuProcess } = require(${JSON.stringify(path.join(lib, "index.js"))});
    QemuProcess.start(${JSON.stringify(spec)}).then((vm) => process.stdout.write("started " + vm.pid + "\\n"), (e) => { console.error(e); process.exit(1); });
  `;
  const engine = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  const pid = await new Promise<number>((resolve, reject) => {
    let out = "";
    engine.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /started (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    engine.on("exit", (code) => reject(new Error(`engine exited ${code} before the VM started`)));
  });
  // The engine dies without a chance to clean up; its QMP connection goes with it.
  engine.kill("SIGKILL");
  await new Promise((resolve) => engine.once("exit", resolve));

  const probe = await probeVm(spec.stateDir);
  expect(probe).toMatchObject({ state: "running", pid });
  const vm = vms.track(await pollUntil("reattach", () => QemuProcess.reattach(spec.stateDir).catch(() => undefined), { timeoutMs: 5000, intervalMs: 50 }));
  expect(vm.pid).toBe(pid);
  expect(await vm.status()).toBe("running");
  expect(await vm.shutdown({ powerdownTimeoutMs: 0 })).toMatchObject({ method: "quit" });
  expect((await probeVm(spec.stateDir)).state).toBe("dead");
}, 60000);
