/**
 * Benchmark of the web console and /metrics against a large inventory: 500 VMs in 10 fleets and
 * 2,001 disk layers (a template base and a four-layer chain per VM), seeded as records into a
 * fresh state folder (the files do not exist, so the VMs show drifted; the console draws them
 * all the same). Measured in one run in Debian's Chromium:
 *  - the console's first load (to the sign-in form), and sign-in to the fleets page with all
 *    500 members shown; the VMs page; a datastore's layer tree with 2,001 layers;
 *  - `GET /metrics` next to the plain `GET /vms` of the same inventory.
 * Run after a build:
 *
 *   node dist/bench/console-load.js [--vms 500] [--json]
 */
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import pino from "pino";
import { chromium } from "playwright-core";
import { startEngine } from "../engine/api/engine";
import type { DiskLayer, Vm } from "../engine/model";
import { openInventory } from "../engine/store";
import { CHROMIUM, CHROMIUM_ARGS, waitForCount } from "../test/support/browser";

const FLEETS = 10;
const LAYERS_PER_VM = 4;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

/** Writes the records of a datastore, a template, fleets and VMs with their layer chains. */
async function seed(stateDir: string, dsPath: string, vmCount: number): Promise<{ layers: number; datastoreId: string }> {
  const store = await openInventory(path.join(stateDir, "inventory.sqlite"));
  const now = new Date().toISOString();
  const hex = (n: number) => n.toString(16).padStart(16, "0");
  const layer = (id: string, p: string, backing: string | null, ownerKind: DiskLayer["ownerKind"], ownerId: string): DiskLayer => ({
    id,
    datastoreId: "ds-0000000000000001",
    path: p,
    format: "qcow2",
    virtualSizeBytes: 1 << 30,
    contentId: `cid-${id}`,
    parentContentId: backing ? `cid-parent-${id}` : null,
    backingPath: backing,
    ownerKind,
    ownerId,
    state: "ready",
    createdAt: now,
  });
  let layers = 0;
  await store.tx(async (s) => {
    await s.datastores.insert({ id: "ds-0000000000000001", name: "bench", path: dsPath, createdAt: now, hostId: null });
    const base = path.join(dsPath, "clonefleet", "templates", "tpl-0000000000000001", "disk.qcow2");
    await s.layers.insert(layer("layer-0000000000000000", base, null, "template", "tpl-0000000000000001"));
    layers++;
    await s.templates.insert({ id: "tpl-0000000000000001", name: "debian", datastoreId: "ds-0000000000000001", diskLayerId: "layer-0000000000000000", memoryMb: 512, vcpus: 1, sourcePath: "/images/debian.qcow2", kernelSource: null, initrdSource: null, kernel: null, initrd: null, cmdline: null, state: "ready", createdAt: now });
    for (let f = 0; f < FLEETS; f++) {
      await s.fleets.insert({ id: `fleet-${hex(f + 1)}`, namePrefix: `web${f}`, templateId: "tpl-0000000000000001", size: vmCount / FLEETS, datastoreIds: ["ds-0000000000000001"], cloneMode: "linked", powerState: "stopped", createdAt: now, updatedAt: now, hostIds: null });
    }
    for (let v = 0; v < vmCount; v++) {
      const vmId = `vm-${hex(v + 1)}`;
      const home = path.join(dsPath, "clonefleet", "vms", vmId);
      let backing = base;
      let top = "";
      for (let l = 0; l < LAYERS_PER_VM; l++) {
        const id = `layer-${hex(v * LAYERS_PER_VM + l + 1)}`;
        const p = path.join(home, l === LAYERS_PER_VM - 1 ? "disk.qcow2" : `base-${l}.qcow2`);
        await s.layers.insert(layer(id, p, backing, "vm", vmId));
        layers++;
        backing = p;
        top = id;
      }
      const fleet = v % FLEETS;
      const vm: Vm = { id: vmId, name: `web${fleet}-${Math.floor(v / FLEETS) + 1}`, templateId: "tpl-0000000000000001", datastoreId: "ds-0000000000000001", diskLayerId: top, homeDir: home, provisionedBy: "linked", cloneMode: "linked", fleetId: `fleet-${hex(fleet + 1)}`, powerState: "stopped", state: "ready", createdAt: now };
      await s.vms.insert(vm);
    }
  });
  await store.close();
  return { layers, datastoreId: "ds-0000000000000001" };
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const out = await fn();
  return [out, performance.now() - t0];
}

async function main(): Promise<void> {
  const vmCount = arg("--vms", 500);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-bench-console-"));
  const stateDir = path.join(dir, "state");
  const dsPath = path.join(dir, "ds");
  await fs.mkdir(stateDir, { recursive: true, mode: 0o700 });
  await fs.mkdir(dsPath, { recursive: true });
  const { layers, datastoreId } = await seed(stateDir, dsPath, vmCount);
  const engine = await startEngine({ stateDir, host: "127.0.0.1", port: 0, log: pino({ level: "silent" }) });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const auth = { authorization: `Bearer ${engine.token}` };
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const scrape = async (route: string) => {
      const times: number[] = [];
      for (let i = 0; i < 20; i++) {
        const [res, ms] = await timed(async () => {
          const r = await fetch(`${engine.url}${route}`, { headers: auth });
          await r.text();
          return r;
        });
        if (!res.ok) throw new Error(`${route} answered ${res.status}`);
        times.push(ms);
      }
      return median(times);
    };
    const metricsMs = await scrape("/metrics");
    const vmsMs = await scrape("/vms");

    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const [, firstLoadMs] = await timed(async () => {
      await page.goto(`${engine.url}/ui/`);
      await page.waitForSelector("input[name=token]");
    });
    await page.fill("input[name=token]", engine.token!);
    const [, fleetsMs] = await timed(async () => {
      await page.click("button[type=submit]");
      await waitForCount(page, "[data-testid=fleet-members] tbody tr", vmCount, 60_000);
    });
    const [, reloadMs] = await timed(async () => {
      await page.reload();
      await waitForCount(page, "[data-testid=fleet-members] tbody tr", vmCount, 60_000);
    });
    const [, vmsPageMs] = await timed(async () => {
      await page.click("a[href='#/vms']");
      await waitForCount(page, "[data-testid=vms] tbody tr", vmCount, 60_000);
    });
    const [, treeMs] = await timed(async () => {
      await page.goto(`${engine.url}/ui/#/datastore/${datastoreId}`);
      await waitForCount(page, "[data-testid=chain-tree] [data-testid=layer]", layers, 60_000);
    });
    const figures = {
      vms: vmCount,
      layers,
      console_first_load_ms: Math.round(firstLoadMs),
      sign_in_to_fleets_shown_ms: Math.round(fleetsMs),
      reload_to_fleets_shown_ms: Math.round(reloadMs),
      vms_page_ms: Math.round(vmsPageMs),
      datastore_layer_tree_ms: Math.round(treeMs),
      metrics_scrape_median_ms: Number(metricsMs.toFixed(1)),
      vms_list_median_ms: Number(vmsMs.toFixed(1)),
      metrics_vs_vms_list: Number((metricsMs / vmsMs).toFixed(2)),
      // Figures on a shared machine scale with its load: say what it was.
      load_average_1m: Number(os.loadavg()[0].toFixed(1)),
      cpus: os.cpus().length,
    };
    if (process.argv.includes("--json")) console.log(JSON.stringify(figures, null, 2));
    else for (const [k, v] of Object.entries(figures)) console.log(`${k.padEnd(28)} ${v}`);
  } finally {
    await browser.close();
    await engine.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
