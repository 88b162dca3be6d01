import type { Inventory } from "./inventory";

/** One write of the inventory, reported once its transaction committed. */
export interface InventoryWrite {
  action: "created" | "updated" | "deleted";
  /** The record kind: `vm`, `pool_copy`, `job`, `api_token`, … */
  kind: string;
  id: string;
  /** The call, as `aggregate.method` (`vms.update`), and its arguments (an update's patch says what changed). */
  method: string;
  args: readonly unknown[];
}

/** What an observed inventory reports. */
export interface InventoryObserver {
  /** A call settled after `seconds` (`tx` spans its whole transaction); `operation` is `aggregate.method` or `tx`. */
  call?(operation: string, seconds: number): void;
  /** Writes that committed, in the order they were made; writes rolled back are never reported. */
  committed?(writes: InventoryWrite[]): void;
}

/** The aggregates of an inventory and the kind of record each holds. */
const AGGREGATES = {
  datastores: "datastore",
  layers: "layer",
  templates: "template",
  replicas: "replica",
  pools: "pool",
  fleets: "fleet",
  vms: "vm",
  parents: "parent",
  snapshots: "snapshot",
  hosts: "host",
  jobs: "job",
  tokens: "api_token",
  settings: "setting",
} as const satisfies Record<string, string>;

type Aggregate = keyof typeof AGGREGATES;

/** What a method writes, given its arguments and result; null for a read (or a write nobody watches, such as a lease). */
function writeOf(kind: string, method: string, args: readonly unknown[], result: unknown): Omit<InventoryWrite, "method" | "args"> | null {
  switch (method) {
    case "insert":
      return { action: "created", kind, id: idOf(args[0]) };
    case "insertCopy":
      return { action: "created", kind: "pool_copy", id: idOf(args[0]) };
    case "upsert":
    case "update":
    case "setState":
    case "transfer":
    case "finish":
      return kind === "setting" ? null : { action: "updated", kind, id: idOf(args[0]) };
    case "delete":
      return { action: "deleted", kind, id: idOf(args[0]) };
    case "deleteCopy":
      return { action: "deleted", kind: "pool_copy", id: idOf(args[0]) };
    case "takeOldestCopy":
      return result ? { action: "deleted", kind: "pool_copy", id: idOf(result) } : null;
    default:
      return null;
  }
}

/** The id a write names: its first argument, or that record's id (a pool copy is keyed by its layer). */
function idOf(arg: unknown): string {
  if (typeof arg === "string") return arg;
  const rec = arg as { id?: unknown; layerId?: unknown } | null;
  if (rec && typeof rec.id === "string") return rec.id;
  if (rec && typeof rec.layerId === "string") return rec.layerId;
  return "";
}

/**
 * Wraps an inventory so that every call is timed and every committed write reported, without the
 * inventory or its callers knowing: the one choke point through which the metrics and the event
 * stream see all changes made in this process (other engines' changes are theirs to report).
 * Each transaction collects its own writes, so transactions running at once never mix them.
 */
export function observeInventory(inv: Inventory, observer: InventoryObserver): Inventory {
  const timed = async <T>(operation: string, run: () => Promise<T>): Promise<T> => {
    const t0 = process.hrtime.bigint();
    try {
      return await run();
    } finally {
      observer.call?.(operation, Number(process.hrtime.bigint() - t0) / 1e9);
    }
  };
  const publish = (writes: InventoryWrite[]) => {
    if (writes.length) observer.committed?.(writes);
  };

  /** `target` bound to a transaction collects into `buffer`; at top level each write is its own commit. */
  const wrap = (target: Inventory, buffer: InventoryWrite[] | null): Inventory => {
    const record = (writes: InventoryWrite[]) => (buffer ? buffer.push(...writes) : publish(writes));
    const records = Object.fromEntries(
      (Object.keys(AGGREGATES) as Aggregate[]).map((name) => {
        const inner = target[name] as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
        const kind = AGGREGATES[name];
        const wrapped: Record<string, unknown> = {};
        for (const method of Object.keys(inner)) {
          const operation = `${name}.${method}`;
          wrapped[method] = async (...args: unknown[]) => {
            const result = await timed(operation, () => inner[method](...args));
            const write = writeOf(kind, method, args, result);
            if (write) record([{ ...write, method: operation, args }]);
            return result;
          };
        }
        return [name, wrapped];
      }),
    ) as unknown as Pick<Inventory, Aggregate>;
    const self: Inventory = {
      ...records,
      dialect: target.dialect,
      location: target.location,
      // Inside a transaction a nested one is part of it: same commit, same rollback.
      tx: (fn) =>
        buffer
          ? fn(self)
          : timed("tx", async () => {
              const writes: InventoryWrite[] = [];
              const out = await target.tx((bound) => fn(wrap(bound, writes)));
              publish(writes);
              return out;
            }),
      lock: (name) => target.lock(name),
      hold: (name) => target.hold(name),
      close: () => target.close(),
    };
    return self;
  };
  return wrap(inv, null);
}
