import { nameProblem } from "../engine/model/rules";
import { autoname, autonameStem, AUTONAME_INPUT, resolveName } from "./autoname";

test("an autoname is the logical name, '-', and seven random letters or digits, and the engine accepts it", () => {
  expect(autoname("web")).toMatch(/^web-[0-9a-z]{7}$/);
  expect(autoname("web")).not.toBe(autoname("web"));
  for (const logical of ["web", "my vm/1", "..hidden", "-x-", "ü", "a".repeat(200), "a..b", "x.".repeat(40)]) {
    const name = autoname(logical);
    expect(nameProblem(name)).toBeNull();
  }
  expect(autonameStem("my vm/1")).toBe("my-vm-1");
  expect(autonameStem("ü")).toBe("cf");
  expect(autoname("a".repeat(200))).toHaveLength(63);
});

test("check keeps a given name, then the name it generated before, and makes a new one only when it has none", () => {
  const make = (logical: string) => `${logical}-fresh00`;
  expect(resolveName({}, { name: "mine", [AUTONAME_INPUT]: "web" }, make)).toBe("mine");
  expect(resolveName({}, { [AUTONAME_INPUT]: "web" }, make)).toBe("web-fresh00");
  // An update: the old inputs carry the generated name, which stays.
  expect(resolveName({ name: "web-1a2b3c4", [AUTONAME_INPUT]: "web" }, { [AUTONAME_INPUT]: "web" }, make)).toBe("web-1a2b3c4");
  // The user named it before and no longer does: a generated name replaces theirs.
  expect(resolveName({ name: "mine" }, { [AUTONAME_INPUT]: "web" }, make)).toBe("web-fresh00");
  // Neither a name nor a logical name to make one from: left out, and check reports it missing.
  expect(resolveName({}, {}, make)).toBeUndefined();
});
