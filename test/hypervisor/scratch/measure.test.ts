import * as path from "node:path";
import * as net from "node:net";
import { spawn } from "node:child_process";
import { promises as fsp } from "node:fs";
import { randomBytes } from "node:crypto";
import { loadState, saveState, AGENT_PORT_NAME, NOTIFY_PORT_NAME, GuestAgentClient, portSocketPath } from "../../../engine/hypervisor";
import { VmTracker, firmwareSpec, tempDir, waitForText, createQcow2 } from "../helpers";
import { ensureTestGuest } from "../../support/guest-image";

const vms = new VmTracker();
afterAll(() => vms.cleanup());
const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)].toFixed(0);

async function rawStart(dir: string): Promise<number> {
  const sock = path.join(dir, "raw.sock");
  const t0 = performance.now();
  const p = spawn("qemu-system-x86_64", ["-accel", "tcg", "-machine", "q35", "-m", "256", "-nodefaults", "-no-user-config", "-display", "none", "-chardev", `socket,id=q,path=${sock},server=on,wait=off`, "-mon", "chardev=q,mode=control"], { stdio: "ignore" });
  let s: net.Socket | null = null;
  while (!s) {
    s = await new Promise<net.Socket | null>((res) => { const c = net.createConnection(sock); c.once("connect", () => res(c)); c.once("error", () => res(null)); });
    if (!s) await new Promise((r) => setTimeout(r, 2));
  }
  let buf = "";
  await new Promise<void>((res) => { s!.on("data", (d) => { buf += d; if ((buf.match(/\n/g) ?? []).length >= 3) res(); }); s!.write('{"execute":"qmp_capabilities"}\n{"execute":"query-status"}\n'); });
  const t = performance.now() - t0;
  p.kill("SIGKILL");
  s.destroy();
  return t;
}

test("measure", async () => {
  const out: string[] = [];
  const raw: number[] = [], startMs: number[] = [], saveMs: number[] = [], restoreMs: number[] = [], tmplSave: number[] = [], clone: number[] = [], rsave: number[] = [];
  const work0 = vms.dir(await tempDir());
  const randRam = path.join(work0, "rand.ram");
  await fsp.writeFile(randRam, randomBytes(256 * 1024 * 1024));
  for (let i = 0; i < 7; i++) {
    raw.push(await rawStart(work0));
    const spec = firmwareSpec(vms.dir(await tempDir()), { memoryMb: 256 });
    let t = performance.now();
    const vm = await vms.start(spec);
    await vm.status();
    startMs.push(performance.now() - t);
    await vm.pause();
    const work = vms.dir(await tempDir());
    t = performance.now();
    const saved = await saveState(vm.qmp, path.join(work, "s.bin"));
    saveMs.push(performance.now() - t);
    t = performance.now();
    const target = await vms.start({ ...spec, stateDir: vms.dir(await tempDir()), incoming: "defer" });
    await loadState(target.qmp, saved.path);
    await target.resume();
    restoreMs.push(performance.now() - t);
    await vm.kill(); await target.kill();
    // non-zero RAM: private map of a random file
    const rs = firmwareSpec(vms.dir(await tempDir()), { memoryMb: 256, memoryFile: { path: randRam, share: false } });
    const rv = await vms.start(rs);
    await rv.pause();
    t = performance.now();
    await saveState(rv.qmp, path.join(work, "r.bin"));
    rsave.push(performance.now() - t);
    await rv.kill();
    await fsp.rm(path.join(work, "r.bin"));
    const ram = path.join(work, "ram");
    const tspec = firmwareSpec(vms.dir(await tempDir()), { memoryMb: 256, memoryFile: { path: ram, share: true } });
    const tvm = await vms.start(tspec);
    await tvm.pause();
    t = performance.now();
    const ts = await saveState(tvm.qmp, path.join(work, "t.bin"), { ignoreShared: true });
    tmplSave.push(performance.now() - t);
    await tvm.kill();
    t = performance.now();
    const c = await vms.start({ ...tspec, stateDir: vms.dir(await tempDir()), memoryFile: { path: ram, share: false }, incoming: "defer" });
    await loadState(c.qmp, ts.path, { ignoreShared: true });
    await c.resume();
    clone.push(performance.now() - t);
    await c.kill();
  }
  out.push(`raw QEMU spawn->QMP status (same run) median ${med(raw)} ms [${raw.map((x) => x.toFixed(0)).join(",")}]`);
  out.push(`QemuProcess.start->running median ${med(startMs)} ms [${startMs.map((x) => x.toFixed(0)).join(",")}]`);
  out.push(`saveState stopped 256MiB idle median ${med(saveMs)} ms; restore start+load+cont ${med(restoreMs)} ms`);
  out.push(`saveState 256MiB random RAM median ${med(rsave)} ms [${rsave.map((x) => x.toFixed(0)).join(",")}]`);
  out.push(`template save x-ignore-shared ${med(tmplSave)} ms; instant clone start+load+cont ${med(clone)} ms [${clone.map((x) => x.toFixed(0)).join(",")}]`);
  const g = ensureTestGuest();
  if (g.ok) {
    const guest = g.guest;
    const boots: number[] = [];
    for (let i = 0; i < 3; i++) {
      const stateDir = vms.dir(await tempDir("cf-guest-"));
      const disk = await createQcow2(path.join(stateDir, "disk.qcow2"), { backing: guest.rootDisk });
      const t0 = performance.now();
      const vm = await vms.start({ name: "g", stateDir, accel: "tcg", memoryMb: 256, vcpus: 1, kernel: { kernel: guest.kernel, initrd: guest.initrd, cmdline: guest.cmdline }, disks: [{ path: disk }], serialPorts: [{ name: AGENT_PORT_NAME }, { name: NOTIFY_PORT_NAME }], identity: "x" });
      const log = await waitForText(vm.files.serialLog, guest.readyLine, 60000);
      boots.push(performance.now() - t0);
      out.push(log.trim());
      const a = await GuestAgentClient.connect(portSocketPath(stateDir, { name: AGENT_PORT_NAME }));
      await a.ping(); await a.close();
      await vm.kill();
    }
    out.push(`Linux guest TCG boot to ready line: [${boots.map((x) => x.toFixed(0)).join(",")}] ms`);
  }
  console.log(out.join("\n"));
}, 600000);
