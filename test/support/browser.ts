import type { Page } from "playwright-core";

/** Debian's Chromium, which setup.sh installs; playwright-core drives it (no bundled browser). */
export const CHROMIUM = "/usr/bin/chromium";

/** Headless flags from MACHINE-NOTES: without the background-networking ones it keeps calling out. */
export const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/**
 * Waits until `selector` matches exactly `n` elements, polling every 10 ms from the test side:
 * the console's CSP forbids eval, which string predicates of waitForFunction need.
 */
export async function waitForCount(page: Page, selector: string, n: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let count = -1;
  while (Date.now() < deadline) {
    count = await page.locator(selector).count();
    if (count === n) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${selector}: ${count} elements after ${timeoutMs} ms, expected ${n}`);
}
