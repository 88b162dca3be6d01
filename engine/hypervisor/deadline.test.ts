import { WaitAbortedError, WaitTimeoutError, checkTimeout, pollUntil, settleWithin, sleep } from "./deadline";

describe("settleWithin", () => {
  test("settles with the work and runs its cleanup once", async () => {
    let cleanups = 0;
    const v = await settleWithin<number>({ timeoutMs: 1000, what: "x" }, (resolve) => {
      setTimeout(() => resolve(7), 5);
      return () => cleanups++;
    });
    expect(v).toBe(7);
    expect(cleanups).toBe(1);
  });

  test("a synchronous settle still runs the cleanup", async () => {
    let cleanups = 0;
    await settleWithin<number>({ timeoutMs: 1000, what: "x" }, (resolve) => {
      resolve(1);
      return () => cleanups++;
    });
    expect(cleanups).toBe(1);
  });

  test("the deadline rejects with the chosen error and cleans up", async () => {
    let cleanups = 0;
    await expect(
      settleWithin({ timeoutMs: 10, what: "slow", onTimeout: () => new Error("too slow") }, () => () => cleanups++),
    ).rejects.toThrow("too slow");
    expect(cleanups).toBe(1);
    await expect(settleWithin({ timeoutMs: 10, what: "slow" }, () => undefined)).rejects.toBeInstanceOf(WaitTimeoutError);
  });

  test("an abort rejects at once, also when already aborted", async () => {
    const ac = new AbortController();
    const p = settleWithin({ timeoutMs: 1000, what: "w", signal: ac.signal }, () => undefined);
    ac.abort("bye");
    await expect(p).rejects.toBeInstanceOf(WaitAbortedError);
    await expect(settleWithin({ timeoutMs: 1000, what: "w", signal: ac.signal }, () => undefined)).rejects.toMatchObject({ name: "AbortError", cause: "bye" });
  });

  test("a deadline must be finite", () => {
    expect(() => checkTimeout(Infinity, "x")).toThrow(RangeError);
    expect(() => checkTimeout(-1, "x")).toThrow(RangeError);
    expect(checkTimeout(0, "x")).toBe(0);
  });
});

describe("pollUntil and sleep", () => {
  test("polls until a value comes, or gives up at the deadline", async () => {
    let n = 0;
    expect(await pollUntil("n>=3", () => (++n >= 3 ? n : undefined), { timeoutMs: 1000, intervalMs: 1 })).toBe(3);
    await expect(pollUntil("never", () => undefined, { timeoutMs: 20, intervalMs: 5 })).rejects.toBeInstanceOf(WaitTimeoutError);
  });

  test("sleep can be aborted", async () => {
    const ac = new AbortController();
    const p = sleep(10000, ac.signal);
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(WaitAbortedError);
  });
});
