import type { Store } from "./store";

/** One write of the inventory, reported once its transaction committed. */
export interface StoreWrite {
  action: "created" | "updated" | "deleted";
  /** The record kind, from the method name: `vm`, `pool_copy`, `job`, … */
  kind: string;
  id: string;
  /** The Store method and its arguments (an update's patch says what changed). */
  method: string;
  args: readonly unknown[];
}

/** What an observed store reports. */
export interface StoreObserver {
  /** A Store method returned or threw after `seconds` (`tx` spans its whole transaction). */
  call?(method: string, seconds: number): void;
  /** Writes that committed, in the order they were made; writes rolled back are never reported. */
  committed?(writes: StoreWrite[]): void;
}

const WRITE = /^(insert|upsert|update|delete|transfer)([A-Z]\w*)$/;
const ACTIONS: Record<string, StoreWrite["action"]> = { insert: "created", upsert: "updated", update: "updated", delete: "deleted", transfer: "updated" };

/**
 * Wraps a store so that every call is timed and every committed write reported, without the
 * store or its callers knowing: the inventory's one choke point, so the metrics and the event
 * stream see all changes made in this process (other hosts' changes are theirs to report).
 */
export function observeStore<S extends Store>(store: S, observer: StoreObserver): S {
  let pending: StoreWrite[] = [];
  let depth = 0;
  const flush = () => {
    if (pending.length === 0) return;
    const writes = pending;
    pending = [];
    observer.committed?.(writes);
  };
  const timed = <T>(method: string, run: () => T): T => {
    const t0 = process.hrtime.bigint();
    try {
      return run();
    } finally {
      observer.call?.(method, Number(process.hrtime.bigint() - t0) / 1e9);
    }
  };
  const proxy: S = new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== "function" || typeof prop !== "string") return value;
      const fn = value as (...args: unknown[]) => unknown;
      if (prop === "tx") {
        return <T>(body: (s: Store) => T): T =>
          timed("tx", () => {
            const mark = pending.length;
            depth++;
            try {
              // The body gets the proxy, so its writes are seen too.
              return target.tx(() => body(proxy));
            } catch (err) {
              // Rolled back (a savepoint when nested): its writes never happened.
              pending.length = mark;
              throw err;
            } finally {
              depth--;
              if (depth === 0) flush();
            }
          });
      }
      const write = WRITE.exec(prop);
      return (...args: unknown[]): unknown => {
        const result = timed(prop, () => fn.apply(target, args));
        if (write) {
          pending.push({ action: ACTIONS[write[1]], kind: kindOf(write[2]), id: idOf(args[0]), method: prop, args });
          // A write outside tx() is its own transaction, committed already.
          if (depth === 0) flush();
        }
        return result;
      };
    },
  });
  return proxy;
}

/** `PoolCopy` → `pool_copy`, `Vm` → `vm`. */
function kindOf(name: string): string {
  return name.replace(/[A-Z]/g, (c, i: number) => (i === 0 ? "" : "_") + c.toLowerCase());
}

/** The id a write names: its first argument, or that record's id (a pool copy is keyed by its layer). */
function idOf(arg: unknown): string {
  if (typeof arg === "string") return arg;
  const rec = arg as { id?: unknown; layerId?: unknown } | null;
  if (rec && typeof rec.id === "string") return rec.id;
  if (rec && typeof rec.layerId === "string") return rec.layerId;
  return "";
}
