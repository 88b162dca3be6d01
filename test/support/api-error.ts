import { ApiError } from "../../engine/client";

/** The rejection of `p` as an ApiError; fails the test when `p` resolves or rejects otherwise. */
export async function apiError(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error("expected the engine to refuse the request");
}
