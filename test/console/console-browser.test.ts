import { existsSync, promises as fs } from "node:fs";
import * as path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import type { FleetApplyWire } from "../../engine/client";
import { PROJECT_ROOT } from "../../engine/version";
import { cliRunner } from "../support/cli";
import { startTestEngine, type TestEngine } from "../support/engine";
import { killAllVms, vmFixture } from "../support/vms";
import { eventually } from "../support/clones";
import { CHROMIUM, CHROMIUM_ARGS, waitForCount } from "../support/browser";

// A real engine with a real fleet (TCG QEMU, firmware-only guests) driven through Debian's Chromium.
jest.setTimeout(300_000);

/** The README's console picture (committed) and the test's other screenshots (git-ignored). */
const README_SHOT = path.join(PROJECT_ROOT, "docs", "console", "vm-chain.png");
const SCREENSHOTS = path.join(PROJECT_ROOT, ".cache", "console-screenshots");

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  // Said once, loudly: scripts/setup.sh installs it, so only a machine set up by hand gets here.
  console.warn(`console browser test SKIPPED: ${CHROMIUM} is missing (bash scripts/setup.sh installs Debian's chromium)`);
}
const describeWithChromium = haveChromium ? describe : describe.skip;

describeWithChromium("the web console in a real browser", () => {
  let t: TestEngine;
  let browser: Browser;
  let fleet: FleetApplyWire;
  let readOnlyToken: string;
  const { json } = cliRunner(() => ({ endpoint: t.engine.url, stateDir: t.stateDir }));
  /** Console errors (a CSP violation, a failed load) and script errors: any is a defect. */
  const problems: string[] = [];

  beforeAll(async () => {
    if (!existsSync(path.join(PROJECT_ROOT, "dist", "console", "index.html"))) throw new Error("the console is not built: run npm run build");
    t = await startTestEngine({ engine: { accel: "tcg" } });
    const fx = await vmFixture(t.client, t.dir);
    const pool = await t.client.pools.create({ template_id: fx.templateId, datastore_id: fx.datastoreId, size: 2 });
    await t.client.waitPoolReady(pool.id, { timeoutMs: 60_000 });
    const job = await t.client.fleets.create({ template_id: fx.templateId, size: 2, datastore_ids: [fx.datastoreId], name_prefix: "web", clone_mode: "pool", power_state: "running" });
    fleet = (await t.client.waitJob(job.id, { timeoutMs: 120_000 })).result as FleetApplyWire;
    readOnlyToken = (await t.client.tokens.create({ name: "viewer", scope: "read-only" })).token;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    await fs.mkdir(SCREENSHOTS, { recursive: true });
    await fs.mkdir(path.dirname(README_SHOT), { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await killAllVms(path.join(t.stateDir, "vms"));
    await t?.stop();
  });

  /** A fresh browser context (its own session storage) signed in with `token`. */
  async function signIn(token: string): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    page.on("console", (m) => {
      // The browser logs every refused request; the read-only test provokes one on purpose.
      if (m.type() === "error" && !m.text().includes("status of 403")) problems.push(m.text());
    });
    page.on("pageerror", (e) => problems.push(e.message));
    await page.goto(`${t.engine.url}/ui/`);
    await page.fill("input[name=token]", token);
    await page.click("button[type=submit]");
    await page.waitForSelector("[data-testid=live][data-live=true]");
    // The token stays in this tab's session storage, never in the address.
    expect(page.url()).not.toContain(token);
    expect(await page.evaluate("sessionStorage.getItem('clonefleet.token')")).toBe(token);
    return page;
  }

  test("sign in, see the fleet's members and the pool counts, fork a member and watch its job reach succeeded live, and see its chain tree hold the layers of clonefleet disk chain", async () => {
    const page = await signIn(t.engine.token!);
    // Fleets (the start page): every member with its provisioning and power.
    const members = await t.client.vms.list({ fleetId: fleet.fleet.id });
    await page.waitForSelector("[data-fleet=web] [data-testid=fleet-members] tbody tr");
    const rows = await page.$$eval("[data-fleet=web] [data-testid=fleet-members] tbody tr", (trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent)));
    expect(rows.map((r) => r[0]).sort()).toEqual(members.map((m) => m.name).sort());
    for (const r of rows) {
      const m = members.find((x) => x.name === r[0])!;
      expect(r.slice(1, 4)).toEqual([m.provisioned_by, "running", m.host_id]);
    }
    await page.screenshot({ path: path.join(SCREENSHOTS, "fleets.png"), fullPage: true });

    // Pools: the counts the API reports (the pool refills after the fleet took its copies).
    await page.click("a[href='#/pools']");
    const pool = (await t.client.pools.list())[0];
    expect(await page.textContent("[data-testid=pool-size]", { timeout: 10_000 })).toBe(String(pool.size));
    // Shown as the API has it, updated by the change feed while the pool refills.
    await eventually(async () => (await page.textContent("[data-testid=pool-ready]")) === String((await t.client.pools.get(pool.id))!.ready), 30_000, "the pool's ready count on the page");

    // A member's page: fork it from there; the job card follows the job over /events (it does not poll) to succeeded.
    const vm = members[0];
    await page.goto(`${t.engine.url}/ui/#/vm/${vm.id}`);
    await page.waitForSelector("[data-testid=chain-tree] [data-in-chain=true]");
    await page.fill("input[name=fork-name]", "web-fork");
    await page.click("[data-testid=fork]");
    const card = await page.waitForSelector("[data-testid=job-card]");
    const jobId = await card.getAttribute("data-job-id");
    await page.waitForSelector("[data-testid=job-card][data-state=succeeded]", { timeout: 120_000 });
    expect((await t.client.jobs.get(jobId!)).state).toBe("succeeded");
    const child = (await t.client.vms.list()).find((v) => v.name === "web-fork")!;
    expect(child.forked_from).toBe(vm.id);

    // Its chain, highlighted in the datastore's layer tree, equals `clonefleet disk chain`: now a
    // frozen fork base under the member's new top, with the child resting on the same base.
    const cliChain = (await json(["disk", "chain", (await t.client.vms.get(vm.id))!.disk_path])) as { layers: { path: string; content_id: string }[] };
    expect(cliChain.layers).toHaveLength(2);
    await waitForCount(page, "[data-testid=chain-tree] [data-in-chain=true]", cliChain.layers.length);
    const shown = await page.$$eval("[data-testid=chain-tree] [data-testid=layer][data-in-chain=true]", (gs) => gs.map((g) => ({ path: g.getAttribute("data-path"), content_id: g.getAttribute("data-content-id") })));
    expect(shown.map((l) => l.path).sort()).toEqual(cliChain.layers.map((l) => l.path).sort());
    for (const l of cliChain.layers) expect(shown.find((s) => s.path === l.path)?.content_id).toBe(l.content_id);
    const drawn = await page.$$eval("[data-testid=chain-tree] [data-testid=layer]", (gs) => gs.map((g) => g.getAttribute("data-path")));
    expect(drawn).toContain(child.disk_path);
    await page.screenshot({ path: README_SHOT, fullPage: true });

    // Jobs page: the fork listed with its final state.
    await page.click("a[href='#/jobs']");
    await page.waitForSelector(`[data-testid=jobs] tr[data-key='${jobId}'] [data-testid=job-state]`);
    expect(await page.textContent(`[data-testid=jobs] tr[data-key='${jobId}'] [data-testid=job-state]`)).toBe("succeeded");
    expect(problems).toEqual([]);
  });

  test("a read-only token sees everything, and its delete button answers with the scope error and deletes nothing", async () => {
    const page = await signIn(readOnlyToken);
    const vms = await t.client.vms.list();
    await page.click("a[href='#/vms']");
    await page.waitForSelector("[data-testid=vms] tbody tr");
    expect(await page.$$eval("[data-testid=vms] tbody tr", (trs) => trs.map((tr) => tr.getAttribute("data-key")).sort())).toEqual(vms.map((v) => v.id).sort());
    for (const view of ["pools", "templates", "datastores", "parents", "replicas", "hosts", "jobs"]) {
      await page.click(`a[href='#/${view}']`);
      await page.waitForSelector("main h2");
      expect({ view, error: await page.$("[data-testid=error]") }).toEqual({ view, error: null });
    }
    await page.click("a[href='#/vms']");
    const victim = vms.find((v) => v.name === "web-fork") ?? vms[0];
    await page.click(`[data-testid=vms] tr[data-key='${victim.id}'] [data-testid=delete-vm]`);
    const alert = await page.waitForSelector("[data-testid=error]");
    expect(await alert.textContent()).toContain("CF_TOKEN_READ_ONLY");
    await page.screenshot({ path: path.join(SCREENSHOTS, "read-only.png") });
    expect(await t.client.vms.get(victim.id)).not.toBeNull();
    expect(problems).toEqual([]);
  });
});
