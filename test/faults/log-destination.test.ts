import { execFile, spawn, type ChildProcess } from "node:child_process";
import { promises as fs } from "node:fs";
import { createServer } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { ApiError, ClonefleetClient } from "../../engine/client";
import { PROJECT_ROOT } from "../../engine/version";

const run = promisify(execFile);
jest.setTimeout(60_000);

// Mounting a small filesystem needs root; elsewhere this test cannot make the log's disk fill up.
const asRoot = typeof process.getuid === "function" && process.getuid() === 0;

/** A loopback port nothing listens on right now. */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/**
 * Starts `clonefleet engine serve` with `stderr` as its fd 2 and logging every request (info),
 * and waits until `/health` answers: its own "listening" line may be lost with the log.
 */
async function serve(stateDir: string, stderr: "pipe" | number): Promise<{ child: ChildProcess; url: string; exited: Promise<number | null> }> {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(PROJECT_ROOT, "bin", "clonefleet"), "engine", "serve", "--state-dir", stateDir, "--listen", `127.0.0.1:${port}`], {
    stdio: ["ignore", "ignore", stderr],
    env: { ...process.env, CLONEFLEET_LOG_LEVEL: "info" },
  });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the engine exited with ${child.exitCode} before it answered`);
      if (await health(url).then(() => true, () => false)) return { child, url, exited };
      if (Date.now() > deadline) throw new Error("the engine did not answer /health");
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    child.kill("SIGKILL");
    await exited;
    throw err;
  }
}

/** The body of `GET /health`; throws when the engine does not answer 200. */
async function health(url: string): Promise<{ ok: boolean }> {
  // A hung engine accepts connections but never answers.
  const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
  if (res.status !== 200) throw new Error(`/health answered ${res.status}`);
  return (await res.json()) as { ok: boolean };
}

/** The engine answers /health and real authenticated requests, a write among them, many times over (each one logs). */
async function expectServing(url: string, stateDir: string, dir: string, child: ChildProcess): Promise<void> {
  const token = (await fs.readFile(path.join(stateDir, "token"), "utf8")).trim();
  const client = new ClonefleetClient({ endpoint: url, token });
  for (let i = 0; i < 50; i++) {
    expect(await health(url)).toEqual({ ok: true });
    expect(await client.datastores.list()).toEqual(i === 0 ? [] : [expect.objectContaining({ name: "after-log-failure" })]);
    if (i === 0) await client.datastores.create({ name: "after-log-failure", path: path.join(dir, "ds") });
  }
  // A failing request logs at warn level on top of the request lines.
  const bad = await client.datastores.create({ name: "bad/name", path: path.join(dir, "x") }).catch((e: unknown) => e);
  expect(bad).toBeInstanceOf(ApiError);
  expect((bad as ApiError).code).toBe("CF_INVALID_FIELD");
  expect(child.exitCode).toBeNull();
}

describe("the engine when its log cannot be written", () => {
  let dir: string;
  let child: ChildProcess | null = null;
  let exited: Promise<number | null> | null = null;
  let mounted: string | null = null;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-log-"));
  });
  afterEach(async () => {
    // After a failure the engine may be stuck and deaf to SIGTERM.
    if (child && child.exitCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
    child = null;
    if (mounted) await run("umount", [mounted]);
    mounted = null;
  });
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  (asRoot ? it : it.skip)("keeps serving when stderr is a file on a full filesystem (ENOSPC)", async () => {
    const small = path.join(dir, "small");
    await fs.mkdir(small);
    await run("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", small]);
    mounted = small;
    const log = path.join(small, "engine.log");
    const fh = await fs.open(log, "a");
    try {
      // Leave no room at all: the log file stays empty, every write fails with ENOSPC.
      await run("sh", ["-c", `dd if=/dev/zero of=${path.join(small, "ballast")} bs=4k 2>/dev/null; true`]);
      const started = await serve(path.join(dir, "state"), fh.fd);
      child = started.child;
      exited = started.exited;
      await expectServing(started.url, path.join(dir, "state"), path.join(dir, "full"), child);
      expect((await fs.stat(log)).size).toBe(0);
      // Once there is room again the log goes on, and says what it lost.
      await fs.rm(path.join(small, "ballast"));
      await health(started.url);
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(await fs.readFile(log, "utf8")).toMatch(/"msg":"\d+ log lines were lost: the log destination refused them \(ENOSPC\)"/);
    } finally {
      await fh.close();
    }
  });

  it("keeps serving when stderr is a pipe whose reader went away (EPIPE)", async () => {
    const started = await serve(path.join(dir, "state-pipe"), "pipe");
    child = started.child;
    exited = started.exited;
    child.stderr!.destroy();
    await expectServing(started.url, path.join(dir, "state-pipe"), path.join(dir, "pipe"), child);
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});
