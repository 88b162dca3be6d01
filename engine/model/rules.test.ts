import { absolutePathProblem, cmdlineProblem, datastorePathProblem, intRangeProblem, nameProblem, pathIsWithin } from "./rules";

describe("nameProblem", () => {
  it.each(["web", "web-01", "a.b_c", "X9"])("accepts %s", (n) => expect(nameProblem(n)).toBeNull());
  it.each([
    ["", "must not be empty"],
    ["a/b", "'/'"],
    ["..", "'..'"],
    ["a..b", "'..'"],
    ["-lead", "start with a letter"],
    ["sp ace", "may hold only"],
    ["x".repeat(64), "at most 63"],
  ])("refuses %j", (n, words) => expect(nameProblem(n)).toContain(words));
  it("refuses non-strings", () => expect(nameProblem(42)).toBe("must be a string"));
});

describe("absolutePathProblem", () => {
  it("accepts absolute paths", () => expect(absolutePathProblem("/srv/ds1")).toBeNull());
  it("refuses relative paths", () => expect(absolutePathProblem("srv/ds1")).toContain("absolute"));
  it("refuses .. segments", () => expect(absolutePathProblem("/srv/../etc")).toContain(".."));
  it.each(["/srv/a\nb", "/srv/a\tb", "/srv/a\0b", "/srv/a\x7fb"])("refuses control characters in %j", (p) => expect(absolutePathProblem(p)).toContain("control characters"));
});

describe("datastorePathProblem", () => {
  it.each(["/srv/ds1", "/var/lib/clonefleet", "/tmp/x", "/procfs", "/etcetera"])("accepts %s", (p) => expect(datastorePathProblem(p)).toBeNull());
  it.each([
    ["/", "root folder"],
    ["/proc", "/proc"],
    ["/proc/self/cwd", "/proc"],
    ["/sys/kernel", "/sys"],
    ["/dev/shm/x", "/dev"],
    ["/etc/cron.d", "/etc"],
    ["/run/x", "/run"],
    ["/usr/lib/x", "/usr"],
    ["/srv/a\nb", "control characters"],
  ])("refuses %j", (p, words) => expect(datastorePathProblem(p)).toContain(words));
});

describe("cmdlineProblem", () => {
  it("accepts one line", () => expect(cmdlineProblem("console=ttyS0 root=/dev/vda quiet")).toBeNull());
  it.each(["a\nb", "a\rb", "a\tb"])("refuses %j", (c) => expect(cmdlineProblem(c)).toContain("control characters"));
  it("refuses over-long lines", () => expect(cmdlineProblem("x".repeat(4097))).toContain("at most 4096"));
});

describe("intRangeProblem", () => {
  it("accepts bounds", () => expect(intRangeProblem(1, { min: 1, max: 2 })).toBeNull());
  it("refuses out of range", () => expect(intRangeProblem(3, { min: 1, max: 2 })).toContain("between 1 and 2"));
  it("refuses fractions", () => expect(intRangeProblem(1.5, { min: 1, max: 2 })).toBe("must be an integer"));
});

describe("pathIsWithin", () => {
  it("sees nesting", () => expect(pathIsWithin("/a/b", "/a/b/c")).toBe(true));
  it("sees equality", () => expect(pathIsWithin("/a/b", "/a/b/")).toBe(true));
  it("refuses siblings with a common prefix", () => expect(pathIsWithin("/a/b", "/a/bc")).toBe(false));
  it("refuses parents", () => expect(pathIsWithin("/a/b", "/a")).toBe(false));
});
