import { engineDir, isInside, removeOwnedTree } from "../disk";
import { internal } from "../errors";
import type { Inventory } from "../store";

/**
 * Removes the tree at `p` (a VM home, a template, replica or parent folder) after proving it
 * lies inside the engine's own folder of a datastore in the inventory, symlinks resolved;
 * throws internal (cause OutsideOwnedFolderError or "no datastore") and removes nothing otherwise.
 */
export async function removeFromDatastore(store: Inventory, p: string): Promise<void> {
  const ds = (await store.datastores.list()).find((d) => isInside(engineDir(d.path), p));
  if (!ds) throw internal(`removing ${p}`, new Error("it lies in no datastore's clonefleet folder"));
  try {
    await removeOwnedTree(engineDir(ds.path), p);
  } catch (err) {
    throw internal(`removing ${p}`, err);
  }
}
