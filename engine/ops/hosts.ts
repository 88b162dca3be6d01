/**
 * Hosts (S6): every engine process sharing one inventory is a host, the agent that runs the
 * QEMU processes of the VMs placed on it. A host records its API address and heartbeats;
 * the other hosts mark it down once its heartbeat is stale and its API does not answer.
 */
import * as path from "node:path";
import type { Logger } from "pino";
import { conflict, invalidField, notFound } from "../errors";
import { LOCAL_HOST_ID, nameProblem, nowIso, type Host, type HostStatus } from "../model";
import type { Inventory } from "../store";

/** How often a host writes its heartbeat unless told otherwise. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 2000;

/** A host whose heartbeat is older than this many intervals (and whose API does not answer) is down. */
export const MISSED_HEARTBEATS_FOR_DOWN = 3;

/** A host as users see it: the record with its status judged now. */
export interface HostView extends Host {
  /** Milliseconds since its last heartbeat, at the time of the view. */
  heartbeatAgeMs: number;
  /** VMs placed on it. */
  vmCount: number;
}

/** Refuses a host name that is not a plain name; the host id is its name. */
export function checkHostName(name: string, field = "host_name"): string {
  const issue = nameProblem(name);
  if (issue) throw invalidField(field, issue);
  return name;
}

/** The folder of a host's VM state folders: `<state>/vms` for `local` (as before hosts), `<state>/hosts/<id>/vms` for the others, so sockets never collide. */
export function vmStateRootFor(stateDir: string, hostId: string): string {
  return hostId === LOCAL_HOST_ID ? path.join(stateDir, "vms") : path.join(stateDir, "hosts", hostId, "vms");
}

/** The status of a host judged now: `down` when marked so or when its heartbeat is older than `downAfterMs`. */
export function judgeHostStatus(host: Host, nowMs: number, downAfterMs: number): { status: HostStatus; reason: string | null } {
  if (host.status === "down") return { status: "down", reason: host.downReason };
  const age = nowMs - Date.parse(host.lastHeartbeatAt);
  if (age > downAfterMs) return { status: "down", reason: `no heartbeat for ${Math.round(age)} ms` };
  return { status: "up", reason: null };
}

/** Every host with its status judged now. */
export async function listHostViews(store: Inventory, downAfterMs: number): Promise<HostView[]> {
  const vms = await store.vms.list();
  const now = Date.now();
  return (await store.hosts.list()).map((h) => hostView(h, now, downAfterMs, vms.filter((v) => (v.hostId ?? LOCAL_HOST_ID) === h.id).length));
}

/** One host with its status judged now; 404 naming `field` when unknown. */
export async function getHostView(store: Inventory, id: string, downAfterMs: number, field = "id"): Promise<HostView> {
  const h = await store.hosts.get(id);
  if (!h) throw notFound("host", id, field);
  const count = (await store.vms.list()).filter((v) => (v.hostId ?? LOCAL_HOST_ID) === id).length;
  return hostView(h, Date.now(), downAfterMs, count);
}

function hostView(h: Host, now: number, downAfterMs: number, vmCount: number): HostView {
  const judged = judgeHostStatus(h, now, downAfterMs);
  return { ...h, status: judged.status, downReason: judged.reason, heartbeatAgeMs: Math.max(0, now - Date.parse(h.lastHeartbeatAt)), vmCount };
}

/** True when a process with this pid exists on this machine. */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Before an engine takes the name `hostId`: refuses (409) when another live engine process
 * holds it (up, a fresh heartbeat, its process alive), so two agents never run the same VMs.
 */
export async function admitHost(store: Inventory, hostId: string, downAfterMs: number): Promise<void> {
  const h = await store.hosts.get(hostId);
  if (!h || h.pid === process.pid) return;
  const judged = judgeHostStatus(h, Date.now(), downAfterMs);
  if (judged.status === "up" && processExists(h.pid)) {
    throw conflict(`host ${JSON.stringify(hostId)} is already served by engine pid ${h.pid} at ${h.apiUrl}; start this engine with another --host-name`, "host_name");
  }
}

/**
 * Refuses to record work for host `hostId` that its agent cannot take up: 404 (naming `field`)
 * for an unknown host, 409 while it is down. Reads only.
 */
export async function checkHostUp(store: Inventory, hostId: string, downAfterMs: number, what: string, field = "host_id"): Promise<void> {
  const host = await store.hosts.get(hostId);
  if (!host) throw notFound("host", hostId, field);
  const judged = judgeHostStatus(host, Date.now(), downAfterMs);
  if (judged.status === "down") throw conflict(`host ${hostId} is down (${judged.reason ?? "no heartbeat"}); its agent cannot run ${what}`, field);
}

/** True when some host other than `selfId` is up now (a fresh heartbeat). */
export async function otherHostsUp(store: Inventory, selfId: string, downAfterMs: number): Promise<boolean> {
  const now = Date.now();
  return (await store.hosts.list()).some((h) => h.id !== selfId && judgeHostStatus(h, now, downAfterMs).status === "up");
}

/** What a host agent records about itself when it starts serving. */
export interface HostRegistration {
  id: string;
  apiUrl: string;
  stateDir: string;
  vmStateRoot: string;
  /** SHA-256 (hex) of this agent's host credential: other agents check calls from it against this. */
  tokenHash: string;
}

/**
 * Keeps this engine's host record alive: registers it as up, writes a heartbeat every
 * interval, and marks other hosts down once their heartbeat is stale and their API does not
 * answer `/health`. `close` marks this host down (`stopped`).
 */
export class HostMonitor {
  private timer: NodeJS.Timeout | null = null;
  private checking = false;

  constructor(
    private readonly store: Inventory,
    private readonly log: Logger,
    private readonly self: HostRegistration,
    readonly intervalMs: number = DEFAULT_HEARTBEAT_INTERVAL_MS,
    /** Called on every beat for each other host that is down (HA restarts look at its VMs). */
    private readonly onHostDown?: (hostId: string) => Promise<void>,
  ) {}

  /** Time without a heartbeat after which a host counts as down. */
  get downAfterMs(): number {
    return this.intervalMs * MISSED_HEARTBEATS_FOR_DOWN;
  }

  /** Records this host as up now (call once it listens) and starts the heartbeat. */
  async start(): Promise<void> {
    const now = nowIso();
    const prior = await this.store.hosts.get(this.self.id);
    await this.store.tx(async (s) =>
      await s.hosts.upsert({
        id: this.self.id,
        name: this.self.id,
        apiUrl: this.self.apiUrl,
        pid: process.pid,
        stateDir: this.self.stateDir,
        vmStateRoot: this.self.vmStateRoot,
        lastHeartbeatAt: now,
        status: "up",
        downReason: null,
        startedAt: now,
        createdAt: prior?.createdAt ?? now,
        tokenHash: this.self.tokenHash,
      }),
    );
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  /** Stops the heartbeat and marks this host down as stopped. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    try {
      await this.store.tx(async (s) => await s.hosts.update(this.self.id, { status: "down", downReason: "stopped" }));
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "could not mark this host down");
    }
  }

  private async tick(): Promise<void> {
    try {
      await this.store.tx(async (s) => await s.hosts.update(this.self.id, { lastHeartbeatAt: nowIso(), status: "up", downReason: null }));
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "heartbeat not written");
    }
    if (this.checking) return;
    this.checking = true;
    try {
      const now = Date.now();
      for (const h of await this.store.hosts.list()) {
        if (h.id === this.self.id || h.status === "down") continue;
        if (now - Date.parse(h.lastHeartbeatAt) <= this.downAfterMs) continue;
        // A stale heartbeat alone may be a busy event loop; a host is down when its API is silent too.
        if (await answersHealth(h.apiUrl, Math.min(1000, this.intervalMs))) continue;
        const age = Date.now() - Date.parse(h.lastHeartbeatAt);
        await this.store.tx(async (s) => {
          const current = await s.hosts.get(h.id);
          if (current && current.lastHeartbeatAt === h.lastHeartbeatAt) await s.hosts.update(h.id, { status: "down", downReason: `not answering (no heartbeat for ${age} ms)` });
        });
        this.log.warn({ hostId: h.id, apiUrl: h.apiUrl }, "host stopped answering; marked down");
      }
      if (this.onHostDown) {
        for (const h of await this.store.hosts.list()) {
          if (h.id !== this.self.id && judgeHostStatus(h, Date.now(), this.downAfterMs).status === "down") await this.onHostDown(h.id);
        }
      }
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "checking other hosts failed");
    } finally {
      this.checking = false;
    }
  }
}

/** True when `GET <apiUrl>/health` answers 200 within `timeoutMs`. */
export async function answersHealth(apiUrl: string, timeoutMs: number): Promise<boolean> {
  try {
    const res = await fetch(`${apiUrl}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    return res.ok;
  } catch {
    return false;
  }
}
