import * as fs from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";

/**
 * Every import or re-export of a module inside `dir` by another module inside `dir`. With
 * `withTypes: false`, imports only of types (`import type`, or every name marked `type`) are
 * left out: the compiler erases them, so they load nothing at run time. With `withTypes: true`
 * they count too (and `import("./x").T` type references), since a cycle of types still ties
 * two files so that neither can change or be read without the other.
 */
function importGraph(dir: string, opts: { withTypes: boolean }): Map<string, string[]> {
  const files = fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts")).map((f) => path.join(dir, f));
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const source = ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.Latest);
    const specs: string[] = [];
    for (const node of source.statements) {
      if (!(ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) || !node.moduleSpecifier || !ts.isStringLiteral(node.moduleSpecifier)) continue;
      if (!opts.withTypes && typeOnly(node)) continue;
      specs.push(node.moduleSpecifier.text);
    }
    if (opts.withTypes) {
      const visit = (n: ts.Node): void => {
        if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) specs.push(n.argument.literal.text);
        ts.forEachChild(n, visit);
      };
      visit(source);
    }
    const targets: string[] = [];
    for (const spec of specs) {
      if (!spec.startsWith(".")) continue;
      const resolved = ts.resolveModuleName(spec, file, { moduleResolution: ts.ModuleResolutionKind.Node10 }, ts.sys).resolvedModule?.resolvedFileName;
      if (resolved && resolved.startsWith(dir + path.sep)) targets.push(resolved);
    }
    graph.set(file, targets);
  }
  return graph;
}

/** True when the declaration imports or re-exports types only (erased by the compiler). */
function typeOnly(node: ts.ImportDeclaration | ts.ExportDeclaration): boolean {
  if (ts.isExportDeclaration(node)) {
    if (node.isTypeOnly) return true;
    return !!node.exportClause && ts.isNamedExports(node.exportClause) && node.exportClause.elements.length > 0 && node.exportClause.elements.every((e) => e.isTypeOnly);
  }
  const clause = node.importClause;
  if (!clause) return false;
  if (clause.isTypeOnly) return true;
  const named = clause.namedBindings;
  return !clause.name && !!named && ts.isNamedImports(named) && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly);
}

/** The strongly connected components with more than one module (or a module importing itself): the import cycles. */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

const OPS = __dirname;

test("engine/ops has no import cycle at run time: each op file depends on the ones below it only", () => {
  const rel = (f: string) => path.relative(OPS, f);
  expect(cycles(importGraph(OPS, { withTypes: false })).map((c) => c.map(rel))).toEqual([]);
});

test("engine/ops has no import cycle through types either (a type-only import counts)", () => {
  const rel = (f: string) => path.relative(OPS, f);
  expect(cycles(importGraph(OPS, { withTypes: true })).map((c) => c.map(rel))).toEqual([]);
});

test("engine/ops/index.ts names what it exports (no export *)", () => {
  const text = fs.readFileSync(path.join(OPS, "index.ts"), "utf8");
  expect(text.split("\n").filter((l) => /^\s*export\s+\*/.test(l))).toEqual([]);
});
