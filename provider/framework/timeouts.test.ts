import { parseDuration, timeouts, timeoutOperations } from "./timeouts";

describe("durations", () => {
  test.each([
    ["20m", 1_200_000],
    ["1h30m", 5_400_000],
    ["90s", 90_000],
    ["1.5h", 5_400_000],
    ["250ms", 250],
    ["0", 0],
  ])("%s is %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  test.each(["", "20", "m", "-5m", "5 m", "10d", "1h-3m"])("%j is not a duration", (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  test("a timeouts block covers the operations it has defaults for", () => {
    expect(timeoutOperations(timeouts({ delete: "5m", create: "20m" }))).toEqual(["create", "delete"]);
    expect(() => timeouts({ create: "soon" })).toThrow(/timeouts.create/);
  });
});
