import type { Store } from "../store";

/**
 * Why a template cannot be deleted because disk pools or fleets clone it (a sentence to
 * follow "it"), or null; VMs made from it by copying do not need it any more.
 */
export function templateUsersProblem(store: Store, templateId: string): string | null {
  const users = [
    ...store.listPools({ templateId }).map((p) => `pool ${p.id}`),
    ...store.listFleets({ templateId }).map((f) => `fleet ${f.namePrefix} (${f.id})`),
  ];
  return users.length ? `is used by ${users.join(", ")}; remove them first` : null;
}

/** Why a datastore cannot be forgotten because pools, VMs or fleets are on it (a sentence to follow "it"), or null. */
export function datastoreUsersProblem(store: Store, datastoreId: string): string | null {
  const users = [
    ...store.listPools({ datastoreId }).map((p) => `pool ${p.id}`),
    ...store.listVms({ datastoreId }).map((v) => `VM ${v.name} (${v.id})`),
    ...store
      .listFleets()
      .filter((f) => f.datastoreIds.includes(datastoreId))
      .map((f) => `fleet ${f.namePrefix} (${f.id})`),
  ];
  return users.length ? `is used by ${users.join(", ")}` : null;
}
