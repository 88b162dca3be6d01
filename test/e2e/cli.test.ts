import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFile } from "node:child_process";
import { PROJECT_ROOT } from "../../engine/version";
import { cliRunner, type CliResult } from "../support/cli";
import { makeRawImage } from "../support/engine";
import { spawnEngine, type EngineProcess } from "../support/engine-process";

describe("the clonefleet CLI against a running engine", () => {
  let dir: string;
  let engine: EngineProcess;
  let stateDir: string;

  const { cli, json } = cliRunner(() => ({ endpoint: engine.url, stateDir }));

  /** Runs the CLI with `input` on its standard input (no token in the environment). */
  const cliWithStdin = (args: string[], input: string): Promise<CliResult> =>
    new Promise((resolve) => {
      const child = execFile(
        process.execPath,
        [path.join(PROJECT_ROOT, "bin", "clonefleet"), ...args],
        { env: { ...process.env, CLONEFLEET_ENDPOINT: engine.url, CLONEFLEET_TOKEN: "" } },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
      child.stdin!.end(input);
    });

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-cli-"));
    stateDir = path.join(dir, "state");
    engine = await spawnEngine(stateDir);
  });
  afterAll(async () => {
    await engine.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("adds a datastore, imports a template, shows its chain and jobs", async () => {
    const ds = await json(["datastore", "add", "--name", "cli-ds", "--path", path.join(dir, "ds")]);
    expect(ds).toMatchObject({ name: "cli-ds", path: path.join(dir, "ds"), reachable: true });
    expect(await json(["datastore", "ls"])).toEqual([expect.objectContaining({ id: ds.id })]);

    const image = await makeRawImage(path.join(dir, "img.raw"));
    const tpl = await json(["template", "import", "--name", "cli-tpl", "--datastore", ds.id, "--source", image, "--memory-mb", "512", "--vcpus", "2"]);
    expect(tpl).toMatchObject({ name: "cli-tpl", memory_mb: 512, vcpus: 2, state: "ready" });
    expect(tpl.content_id).toMatch(/^[0-9a-f]{32}$/);

    const chain = await json(["disk", "chain", tpl.disk_path]);
    expect(chain.layers).toEqual([expect.objectContaining({ path: tpl.disk_path, content_id: tpl.content_id })]);

    const jobs = await json(["job", "ls"]);
    expect(jobs[0]).toMatchObject({ kind: "template.import", state: "succeeded", target_id: tpl.id });
    const waited = await json(["job", "wait", jobs[0].id]);
    expect(waited.state).toBe("succeeded");

    const text = await cli(["--state-dir", stateDir, "template", "ls"]);
    expect(text.stdout).toMatch(/cli-tpl\s+ds-/);
  });

  it("reports errors in one line naming the field, exit status 1", async () => {
    const r = await cli(["--state-dir", stateDir, "datastore", "add", "--name", "bad/name", "--path", path.join(dir, "x")]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe("error: CF_INVALID_FIELD: name: must not contain '/' or '\\'");
    const j = await cli(["--state-dir", stateDir, "--json", "datastore", "add", "--name", "ok", "--path", "relative"]);
    expect(JSON.parse(j.stderr)).toEqual({ error: { code: "CF_INVALID_FIELD", message: expect.stringContaining("absolute"), field: "path" } });
  });

  it("refuses a missing token and says the engine is unreachable plainly", async () => {
    const noToken = await cli(["datastore", "ls"]);
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toContain("CF_UNAUTHORIZED");
    const down = await cli(["--endpoint", "http://127.0.0.1:1", "--token", "x", "datastore", "ls"]);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^error: CF_UNREACHABLE: cannot reach the clonefleet engine at http:\/\/127\.0\.0\.1:1/);
  });

  it("reads the token from --token-file, from standard input with -, or from CLONEFLEET_TOKEN_FILE, never from the command line", async () => {
    const token = (await fs.readFile(path.join(stateDir, "token"), "utf8")).trim();
    const file = path.join(dir, "my-token");
    await fs.writeFile(file, `${token}\n`, { mode: 0o600 });
    const listed = (r: CliResult) => ({ code: r.code, stderr: r.stderr, list: r.code === 0 ? (JSON.parse(r.stdout) as unknown[]).length : null });

    expect(listed(await cli(["--token-file", file, "--json", "datastore", "ls"]))).toEqual({ code: 0, stderr: "", list: 1 });
    expect(listed(await cli(["--json", "datastore", "ls"], { CLONEFLEET_TOKEN_FILE: file }))).toEqual({ code: 0, stderr: "", list: 1 });
    expect(listed(await cliWithStdin(["--token-file", "-", "--json", "datastore", "ls"], `${token}\n`))).toEqual({ code: 0, stderr: "", list: 1 });
    // The flag wins over the environment, as --token does.
    expect(listed(await cli(["--token-file", file, "--json", "datastore", "ls"], { CLONEFLEET_TOKEN_FILE: path.join(dir, "missing") }))).toEqual({ code: 0, stderr: "", list: 1 });

    const missing = await cli(["--token-file", path.join(dir, "missing"), "datastore", "ls"]);
    expect([missing.code, missing.stderr.trim()]).toEqual([1, `error: CF_ERROR: --token-file: cannot read ${path.join(dir, "missing")}: no such file`]);
    const fromEnv = await cli(["datastore", "ls"], { CLONEFLEET_TOKEN_FILE: path.join(dir, "missing") });
    expect([fromEnv.code, fromEnv.stderr.trim()]).toEqual([1, `error: CF_ERROR: CLONEFLEET_TOKEN_FILE: cannot read ${path.join(dir, "missing")}: no such file`]);
    const empty = await cliWithStdin(["--token-file", "-", "datastore", "ls"], "");
    expect([empty.code, empty.stderr.trim()]).toEqual([1, "error: CF_ERROR: --token-file: standard input must hold one token (got nothing)"]);
    const wrong = await cliWithStdin(["--token-file", "-", "datastore", "ls"], "not-the-token\n");
    expect([wrong.code, wrong.stderr]).toEqual([1, expect.stringContaining("CF_UNAUTHORIZED")]);
    const both = await cli(["--token", token, "--token-file", file, "datastore", "ls"]);
    expect([both.code, both.stderr.trim()]).toEqual([1, "error: CF_ERROR: --token and --token-file: give one of them, not both"]);
  });

  it("exits 1 from `job wait` when the job failed", async () => {
    const ds = (await json(["datastore", "ls"]))[0];
    const image = await makeRawImage(path.join(dir, "img2.raw"));
    const job = await json(["template", "import", "--no-wait", "--name", "doomed", "--datastore", ds.id, "--source", image]);
    await json(["job", "cancel", job.id]);
    const r = await cli(["--state-dir", stateDir, "job", "wait", job.id]);
    // The import may have finished before the cancel arrived; either way the CLI says so.
    const final = await json(["job", "show", job.id]);
    if (final.state === "succeeded") expect(r.code).toBe(0);
    else {
      expect(final.state).toBe("cancelled");
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("cancelled");
    }
  });
});
