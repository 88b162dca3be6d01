import { idProblem, newId } from "./ids";

describe("idProblem", () => {
  it("accepts ids newId makes", () => {
    expect(idProblem("vm", newId("vm"))).toBeNull();
    expect(idProblem("tpl", "tpl-0123456789abcdef")).toBeNull();
  });
  it.each([
    ["..", "must be a vm id"],
    ["../../x", "must be a vm id"],
    ["vm-0123456789abcdef/..", "must be a vm id"],
    ["vm-0123456789ABCDEF", "must be a vm id"],
    ["vm-0123456789abcde", "must be a vm id"],
    ["vm-0123456789abcdef0", "must be a vm id"],
    ["tpl-0123456789abcdef", "must be a vm id"],
    ["", "must be a vm id"],
    ["vm-0123456789abcdef\n", "must be a vm id"],
  ])("refuses %j as a vm id", (value, words) => expect(idProblem("vm", value)).toContain(words));
  it("refuses non-strings", () => expect(idProblem("vm", 7)).toBe("must be a string"));
  it("quotes the value it refused", () => expect(idProblem("vm", "../../x")).toContain('"../../x"'));
});
