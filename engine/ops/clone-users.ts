import type { Inventory } from "../store";

/**
 * Why a template cannot be deleted because disk pools or fleets clone it (a sentence to
 * follow "it"), or null; VMs made from it by copying do not need it any more.
 */
export async function templateUsersProblem(store: Inventory, templateId: string): Promise<string | null> {
  const users = [
    ...(await store.pools.list({ templateId })).map((p) => `pool ${p.id}`),
    ...(await store.fleets.list({ templateId })).map((f) => `fleet ${f.namePrefix} (${f.id})`),
  ];
  return users.length ? `is used by ${users.join(", ")}; remove them first` : null;
}

/** Why a datastore cannot be forgotten because pools, VMs or fleets are on it (a sentence to follow "it"), or null. */
export async function datastoreUsersProblem(store: Inventory, datastoreId: string): Promise<string | null> {
  const users = [
    ...(await store.pools.list({ datastoreId })).map((p) => `pool ${p.id}`),
    ...(await store.vms.list({ datastoreId })).map((v) => `VM ${v.name} (${v.id})`),
    ...(await store.fleets.list())
      .filter((f) => f.datastoreIds.includes(datastoreId))
      .map((f) => `fleet ${f.namePrefix} (${f.id})`),
  ];
  return users.length ? `is used by ${users.join(", ")}` : null;
}
