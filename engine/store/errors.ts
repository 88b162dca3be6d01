/** A unique or foreign-key constraint refused a write. */
export class StoreConstraintError extends Error {
  constructor(
    message: string,
    /** The column that clashed, when known (e.g. `name`). */
    readonly column?: string,
  ) {
    super(message);
    this.name = "StoreConstraintError";
  }
}
