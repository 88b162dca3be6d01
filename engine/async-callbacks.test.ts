import * as path from "node:path";
import * as ts from "typescript";

/**
 * An async callback given to an array method yields promises where the method wants values: a
 * `filter` or `some` that is always true, a `flatMap` of promises, a `sort` that sorts nothing.
 * The compiler accepts all of these (the callbacks' return types are loose). The one sound use,
 * `Promise.all(xs.map(async …))`, is allowed.
 */
const ARRAY_METHODS = new Set(["filter", "map", "some", "every", "find", "findIndex", "findLast", "sort", "toSorted", "forEach", "reduce", "flatMap"]);

function asyncArrayCallbacks(): string[] {
  const root = path.resolve(__dirname, "..");
  const parsed = ts.getParsedCommandLineOfConfigFile(path.join(root, "tsconfig.json"), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined });
  if (!parsed) throw new Error("tsconfig.json could not be read");
  const program = ts.createProgram(
    parsed.fileNames.filter((f) => f.includes(`${path.sep}engine${path.sep}`) && !f.endsWith(".test.ts")),
    { ...parsed.options, noEmit: true },
  );
  const checker = program.getTypeChecker();
  const isPromise = (t: ts.Type): boolean => (t.getSymbol() ?? t.aliasSymbol)?.getName() === "Promise" || (t.isUnion() && t.types.some(isPromise));
  const found: string[] = [];
  for (const sf of program.getSourceFiles()) {
    if (sf.isDeclarationFile || !sf.fileName.includes(`${path.sep}engine${path.sep}`)) continue;
    const visit = (n: ts.Node): void => {
      if ((ts.isArrowFunction(n) || ts.isFunctionExpression(n)) && ts.isCallExpression(n.parent) && n.parent.arguments.includes(n as ts.Expression)) {
        const callee = n.parent.expression;
        const sig = checker.getSignatureFromDeclaration(n);
        if (ts.isPropertyAccessExpression(callee) && ARRAY_METHODS.has(callee.name.text) && sig && isPromise(checker.getReturnTypeOfSignature(sig))) {
          let outer: ts.Node = n.parent.parent;
          while (ts.isParenthesizedExpression(outer) || ts.isSpreadElement(outer) || ts.isArrayLiteralExpression(outer)) outer = outer.parent;
          const awaitedAll = callee.name.text === "map" && ts.isCallExpression(outer) && /^Promise\.(all|allSettled|race|any)$/.test(outer.expression.getText(sf));
          if (!awaitedAll) found.push(`${path.relative(root, sf.fileName)}:${sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1} .${callee.name.text}(async …)`);
        }
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return found;
}

test("no async callback is given to an array method, except mapped into Promise.all", () => {
  expect(asyncArrayCallbacks()).toEqual([]);
}, 120_000);
