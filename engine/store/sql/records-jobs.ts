import type { Job } from "../../model";
import type { ApiTokenRecords, HostRecords, JobLease, JobRecords, SettingRecords } from "../inventory";
import { JOB_PATCH, jobRow, toJob, type JobRow } from "../rows";
import { apiTokenRow, toApiToken, type ApiTokenRow } from "../rows-api-tokens";
import { HOST_PATCH, hostRow, toHost, type HostRow } from "../rows-hosts";
import type { SqlSession, SqlValue } from "./driver";
import { map } from "./records-disks";
import { setClauses, Table } from "./table";

type LeasedJobRow = JobRow & { lease_owner: string | null; lease_expires_at: string | null };

export function jobRecords(db: SqlSession, inTx: <T>(fn: (db: SqlSession) => Promise<T>) => Promise<T>): JobRecords {
  const t = new Table<JobRow>(db, "jobs");
  return {
    insert: (job: Job) => t.insert(jobRow(job)),
    get: async (id) => map(await t.one("id = ?", [id]), toJob),
    findByIdempotencyKey: async (key) => map(await t.one("idempotency_key = ?", [key]), toJob),
    list: async (filter = {}) => {
      const { states, limit } = filter;
      if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) throw new RangeError(`jobs.list: limit must be a non-negative integer, got ${limit}`);
      if (states && states.length === 0) return [];
      const where = states ? `WHERE state IN (${states.map(() => "?").join(", ")}) ` : "";
      const params: SqlValue[] = [...(states ?? []), ...(limit !== undefined ? [limit] : [])];
      return (await t.many(`${where}ORDER BY created_at DESC, id DESC${limit !== undefined ? " LIMIT ?" : ""}`, params)).map(toJob);
    },
    update: (id, patch) => t.patch(id, patch, JOB_PATCH),
    claim: (hostId, owner, leaseMs, now = new Date()) =>
      inTx(async (s) => {
        const at = now.toISOString();
        // SKIP LOCKED: runners of many engines claim at once, each passing over the rows the
        // others are claiming; on SQLite the writer lock taken by the transaction does the same.
        const skipLocked = s.dialect === "postgres" ? " FOR UPDATE SKIP LOCKED" : "";
        const [row] = await s.query<LeasedJobRow & Record<string, unknown>>(
          // A queued or running job is free unless a live lease holds it: a running job whose
          // lease lapsed belongs to a dead engine and is claimed for recovery.
          `SELECT * FROM jobs WHERE COALESCE(host_id, 'local') = ? AND state IN ('queued', 'running') AND (lease_expires_at IS NULL OR lease_expires_at < ?)` +
            ` ORDER BY created_at, id LIMIT 1${skipLocked}`,
          [hostId, at],
        );
        if (!row) return null;
        const lease: JobLease = { owner, expiresAt: new Date(now.getTime() + leaseMs).toISOString() };
        await s.run("UPDATE jobs SET lease_owner = ?, lease_expires_at = ? WHERE id = ?", [lease.owner, lease.expiresAt, row.id]);
        return { job: toJob(row), lease, recovered: row.state === "running" };
      }),
    start: async (jobId, owner, leaseMs, now = new Date()) =>
      (await db.run("UPDATE jobs SET state = 'running', started_at = ?, lease_owner = ?, lease_expires_at = ? WHERE id = ? AND state = 'queued'", [
        now.toISOString(),
        owner,
        new Date(now.getTime() + leaseMs).toISOString(),
        jobId,
      ])) === 1,
    renew: async (jobId, owner, leaseMs, now = new Date()) =>
      (await db.run("UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND lease_owner = ?", [new Date(now.getTime() + leaseMs).toISOString(), jobId, owner])) === 1,
    finish: async (jobId, patch, owner) => {
      const { sets, params } = setClauses(patch, JOB_PATCH);
      // The lease is cleared only when it is still the finisher's; the right-hand sides read the row as it was.
      const lease = "lease_owner = CASE WHEN lease_owner = ? THEN NULL ELSE lease_owner END, lease_expires_at = CASE WHEN lease_owner = ? THEN NULL ELSE lease_expires_at END";
      await db.run(`UPDATE jobs SET ${[...sets, lease].join(", ")} WHERE id = ?`, [...params, owner, owner, jobId]);
    },
    release: async (jobId, owner) => void (await db.run("UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL WHERE id = ? AND lease_owner = ?", [jobId, owner])),
    lease: async (jobId) => {
      const [row] = await db.query<{ lease_owner: string | null; lease_expires_at: string | null }>("SELECT lease_owner, lease_expires_at FROM jobs WHERE id = ?", [jobId]);
      return row?.lease_owner && row.lease_expires_at ? { owner: row.lease_owner, expiresAt: row.lease_expires_at } : null;
    },
  };
}

export function hostRecords(db: SqlSession): HostRecords {
  const t = new Table<HostRow>(db, "hosts");
  return {
    upsert: async (h) => {
      const row = hostRow(h) as unknown as Record<string, SqlValue>;
      const columns = Object.keys(row);
      const sets = columns.filter((c) => c !== "id" && c !== "created_at").map((c) => `${c} = excluded.${c}`);
      await db.run(
        `INSERT INTO hosts (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")}) ON CONFLICT (id) DO UPDATE SET ${sets.join(", ")}`,
        columns.map((c) => row[c]),
      );
    },
    get: async (id) => map(await t.one("id = ?", [id]), toHost),
    list: async () => (await t.many("ORDER BY name")).map(toHost),
    update: (id, patch) => t.patch(id, patch, HOST_PATCH),
  };
}

export function settingRecords(db: SqlSession): SettingRecords {
  return {
    get: async (key) => (await db.query<{ value: string }>("SELECT value FROM settings WHERE key = ?", [key]))[0]?.value ?? null,
    set: async (key, value) => void (await db.run("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [key, value])),
  };
}

export function apiTokenRecords(db: SqlSession): ApiTokenRecords {
  const t = new Table<ApiTokenRow>(db, "api_tokens");
  return {
    insert: (token) => t.insert(apiTokenRow(token)),
    findByHash: async (hash) => map(await t.one("token_hash = ?", [hash]), toApiToken),
    list: async () => (await t.many("ORDER BY created_at, id")).map(toApiToken),
    delete: (id) => t.delete(id),
  };
}
