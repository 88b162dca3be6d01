/**
 * Where the compiled test provider lives and how tests launch it: `npm test` builds dist/
 * first; in a dev loop run `npx tsc -p tsconfig.json` before jest.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LaunchOptions } from "./driver";

/** The compiled fixture provider entry script. */
export const FIXTURE_ENTRY = path.resolve(__dirname, "../../dist/test/protocol/fixtures/test-provider.js");

/** Fails with a clear message when dist/ has not been built. */
export function requireBuiltFixture(): void {
  if (!fs.existsSync(FIXTURE_ENTRY)) {
    throw new Error(`${FIXTURE_ENTRY} is missing: run \`npx tsc -p tsconfig.json\` (npm test does it) before these tests`);
  }
}

/** Launch options for the fixture provider, with extra environment. */
export function fixtureLaunch(extra: Partial<LaunchOptions> = {}): LaunchOptions {
  return { command: process.execPath, args: [FIXTURE_ENTRY], ...extra };
}

/** A fresh temporary directory and a store file path inside it for the fixture's objects. */
export function tempStore(): { dir: string; store: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "clonefleet-protocol-test-"));
  return { dir, store: path.join(dir, "store.json"), cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
