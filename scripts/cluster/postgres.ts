import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { Client } from "pg";

/**
 * A throwaway PostgreSQL cluster (for a test file, a benchmark or the namespace cluster): its own
 * data folder under a temp folder, TCP on a free port of one address (loopback unless told),
 * password auth, run as the unprivileged `postgres` user when started as root (PostgreSQL
 * refuses root). `stop()` kills it and removes every file.
 */
export interface PostgresCluster {
  /** URL of the cluster's `postgres` database, as the superuser `clonefleet`. */
  readonly adminUrl: string;
  readonly port: number;
  readonly password: string;
  /** Creates an empty database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Stops the server (fast shutdown: open connections are cut) and starts it again on the same port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const USER = "clonefleet";

/** The PostgreSQL binaries folder, or null when PostgreSQL is not installed. */
export function postgresBinDir(): string | null {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(path.join(root, v, "bin", "postgres")))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? path.join(root, versions[0], "bin") : null;
}

/**
 * Where the cluster listens: `host` must be an address of this machine (default 127.0.0.1);
 * `allowFrom` (a CIDR such as 198.18.7.0/24) lets clients of that network in besides loopback.
 */
export interface PostgresClusterOptions {
  host?: string;
  allowFrom?: string;
}

export async function startPostgresCluster(opts: PostgresClusterOptions = {}): Promise<PostgresCluster> {
  const host = opts.host ?? "127.0.0.1";
  const bin = postgresBinDir();
  if (!bin) throw new Error("PostgreSQL is not installed; run `bash scripts/setup.sh` as root (it installs Debian's postgresql)");
  const owner = process.getuid?.() === 0 ? postgresUser() : null;
  const dir = mkdtempSync(path.join(tmpdir(), "cf-pg-"));
  const data = path.join(dir, "data");
  const sockets = path.join(dir, "sockets");
  mkdirSync(sockets);
  const password = randomBytes(12).toString("hex");
  const pwfile = path.join(dir, "pwfile");
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (owner) for (const p of [dir, sockets, pwfile]) chownSync(p, owner.uid, owner.gid);
  const asOwner = owner ? { uid: owner.uid, gid: owner.gid } : {};

  let child: ChildProcess | null = null;
  const port = await freePort(host);
  try {
    execFileSync(path.join(bin, "initdb"), ["-D", data, "-U", USER, `--pwfile=${pwfile}`, "--auth=scram-sha-256", "--no-sync", "-E", "UTF8"], {
      ...asOwner,
      stdio: "pipe",
      cwd: dir,
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${String((err as { stderr?: Buffer }).stderr ?? err)}`);
  }
  if (opts.allowFrom) appendFileSync(path.join(data, "pg_hba.conf"), `host all all ${opts.allowFrom} scram-sha-256\n`);
  const adminUrl = `postgres://${USER}:${password}@${host}:${port}/postgres`;

  const start = async (): Promise<void> => {
    let log = "";
    const proc = spawn(path.join(bin, "postgres"), ["-D", data, "-p", String(port), "-h", host, "-k", sockets, "-c", "fsync=off"], {
      ...asOwner,
      cwd: dir,
      stdio: ["ignore", "ignore", "pipe"],
    });
    proc.stderr!.on("data", (d: Buffer) => (log += d.toString()));
    child = proc;
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`postgres exited with ${proc.exitCode}:\n${log}`);
      const c = new Client({ connectionString: adminUrl });
      try {
        await c.connect();
        await c.end();
        return;
      } catch {
        await c.end().catch(() => undefined);
        if (Date.now() > deadline) throw new Error(`postgres did not accept connections within 30 s:\n${log}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  const halt = async (): Promise<void> => {
    const proc = child;
    child = null;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise<void>((r) => proc.once("exit", () => r()));
    proc.kill("SIGINT"); // fast shutdown
    const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  };

  try {
    await start();
  } catch (err) {
    await halt();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    adminUrl,
    port,
    password,
    async createDatabase(name: string) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`database name ${name} must be lower-case letters, digits and _`);
      const c = new Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${name}`);
      } finally {
        await c.end();
      }
      return `postgres://${USER}:${password}@${host}:${port}/${name}`;
    },
    async restart() {
      await halt();
      await start();
    },
    async stop() {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function postgresUser(): { uid: number; gid: number } {
  try {
    const uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
    return { uid, gid };
  } catch {
    throw new Error("the tests run as root and need the unprivileged `postgres` user that Debian's postgresql package creates; run `bash scripts/setup.sh`");
  }
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
