/**
 * Deadlines and cancellation for every wait in the hypervisor layer: nothing here waits
 * without a limit, and every wait can also be cancelled through an AbortSignal.
 */

/** Thrown by `sleep`, `pollUntil` and `settleWithin` when their AbortSignal fires; the signal's reason is the `cause`. */
export class WaitAbortedError extends Error {
  constructor(
    readonly what: string,
    options?: { cause?: unknown },
  ) {
    super(`${what}: aborted`, options);
    this.name = "AbortError";
  }
}

/** Thrown by `pollUntil` and `settleWithin` when the deadline passes first. */
export class WaitTimeoutError extends Error {
  constructor(
    readonly what: string,
    readonly timeoutMs: number,
  ) {
    super(`${what}: not done within ${timeoutMs} ms`);
    this.name = "WaitTimeoutError";
  }
}

/** Options of every bounded wait. */
export interface WaitOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Checks that a timeout is a finite, non-negative number; throws a RangeError otherwise. */
export function checkTimeout(timeoutMs: number, what: string): number {
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
    throw new RangeError(`${what}: timeoutMs must be a finite number >= 0, got ${timeoutMs}`);
  }
  return timeoutMs;
}

/**
 * Runs `start(resolve, reject)` and settles with it, or rejects with `onTimeout()` after
 * `timeoutMs` or with `onAbort(reason)` when `signal` fires; the cleanup `start` returns runs
 * exactly once whichever way it ends.
 */
export function settleWithin<T>(
  opts: WaitOptions & { what: string; onTimeout?: () => Error; onAbort?: (reason: unknown) => Error },
  start: (resolve: (value: T) => void, reject: (err: unknown) => void) => (() => void) | void,
): Promise<T> {
  const { what, signal } = opts;
  const timeoutMs = checkTimeout(opts.timeoutMs, what);
  return new Promise<T>((resolve, reject) => {
    const abortError = (reason: unknown) => (opts.onAbort ? opts.onAbort(reason) : new WaitAbortedError(what, { cause: reason }));
    if (signal?.aborted) {
      reject(abortError(signal.reason));
      return;
    }
    let done = false;
    let cleanup: (() => void) | void;
    const finish = () => {
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      if (cleanup) cleanup();
    };
    const onAbort = () => {
      if (done) return;
      finish();
      reject(abortError(signal?.reason));
    };
    const timer = setTimeout(() => {
      if (done) return;
      finish();
      reject(opts.onTimeout ? opts.onTimeout() : new WaitTimeoutError(what, timeoutMs));
    }, timeoutMs);
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      cleanup = start(
        (value) => {
          if (done) return;
          finish();
          resolve(value);
        },
        (err) => {
          if (done) return;
          finish();
          reject(err);
        },
      );
      // start may have settled synchronously before cleanup was assigned.
      if (done && cleanup) cleanup();
    } catch (err) {
      if (!done) {
        finish();
        reject(err);
      }
    }
  });
}

/** Resolves after `ms` milliseconds; rejects with WaitAbortedError when `signal` fires first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new WaitAbortedError("sleep", { cause: signal.reason }));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(new WaitAbortedError("sleep", { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Calls `check` every `intervalMs` until it returns a value other than undefined, and returns
 * that value; throws WaitTimeoutError after `timeoutMs` (checking one last time at the
 * deadline), WaitAbortedError on abort, or whatever `check` throws.
 */
export async function pollUntil<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  opts: WaitOptions & { intervalMs?: number },
): Promise<T> {
  const timeoutMs = checkTimeout(opts.timeoutMs, what);
  const intervalMs = opts.intervalMs ?? 10;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    const left = deadline - Date.now();
    if (left <= 0) throw new WaitTimeoutError(what, timeoutMs);
    if (opts.signal?.aborted) throw new WaitAbortedError(what, { cause: opts.signal.reason });
    await sleep(Math.min(intervalMs, left), opts.signal).catch((err: unknown) => {
      throw err instanceof WaitAbortedError ? new WaitAbortedError(what, { cause: err.cause }) : err;
    });
  }
}

/** Milliseconds left until `deadline` (a Date.now() value), never below zero. */
export function remainingMs(deadline: number): number {
  return Math.max(0, deadline - Date.now());
}
