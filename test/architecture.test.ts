// The layers' import rules, checked on the source (static, dynamic and type imports) and on what each
// Lambda bundle really contains (esbuild's metafile). docs/ARCHITECTURE.md states the rules.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { build } from "esbuild";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { bundleOptions, handlerNames } from "../scripts/build.ts";
import { PROJECT_ROOT } from "../local/paths.ts";

const ROOTS = ["functions", "local", "containers", "cloudformation", "bin", "scripts", "bench"];

function tsFiles(dir: string): string[] {
  const abs = join(PROJECT_ROOT, dir);
  return readdirSync(abs).flatMap((f) => {
    const p = join(abs, f);
    if (statSync(p).isDirectory()) return tsFiles(join(dir, f));
    return f.endsWith(".ts") ? [join(dir, f)] : [];
  });
}

/** Every relative import of a file (import, import type, export from, import()), as repository paths. */
export function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(join(PROJECT_ROOT, file), "utf8"), true, true);
  return info.importedFiles
    .map((f) => f.fileName)
    .filter((s) => s.startsWith("."))
    .map((s) => relative(PROJECT_ROOT, resolve(PROJECT_ROOT, dirname(file), s)));
}

const files = ROOTS.flatMap(tsFiles);
const graph = new Map(files.map((f) => [f, importsOf(f)]));

/** Strongly connected components of more than one file (Tarjan), or of one file importing itself. */
function cycles(g: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!g.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (g.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of g.keys()) if (!idx.has(v)) visit(v);
  return out;
}

const under = (p: string, dir: string) => p.startsWith(dir + "/");
/** Imports that break a rule, as "file -> import". */
const violations = (from: (f: string) => boolean, bad: (target: string) => boolean) =>
  [...graph].flatMap(([f, imps]) => (from(f) ? imps.filter(bad).map((i) => `${f} -> ${i}`) : []));

describe("import rules", () => {
  it("finds the imports of every kind (the walk itself)", () => {
    expect(files.length).toBeGreaterThan(50);
    // A dynamic import, a type import and a static import the rules depend on.
    expect(graph.get("functions/runtime/wiring.ts")).toContain("functions/operations/reconcile.ts");
    expect(graph.get("functions/operations/restore.ts")).toContain("functions/ports/snapshots.ts");
    expect(graph.get("functions/handlers/lifecycle.ts")).toContain("functions/runtime/wiring.ts");
    expect(
      cycles(
        new Map([
          ["a", ["b"]],
          ["b", ["c"]],
          ["c", ["a"]],
          ["d", ["a"]],
        ]),
      ),
    ).toEqual([["a", "b", "c"]]);
  });

  it("has no import cycle", () => {
    expect(cycles(graph)).toEqual([]);
  });

  it("keeps the domain pure: it imports only itself", () => {
    expect(
      violations(
        (f) => under(f, "functions/domain"),
        (t) => !under(t, "functions/domain"),
      ),
    ).toEqual([]);
  });

  it("writes operations against ports: no adapters, runtime or handlers", () => {
    const bad = (t: string) =>
      ["functions/adapters", "functions/runtime", "functions/handlers"].some((d) => under(t, d));
    expect(violations((f) => under(f, "functions/operations"), bad)).toEqual([]);
  });

  it("keeps ports to interfaces over the domain", () => {
    const ok = (t: string) => under(t, "functions/ports") || under(t, "functions/domain");
    expect(
      violations(
        (f) => under(f, "functions/ports"),
        (t) => !ok(t),
      ),
    ).toEqual([]);
  });

  it("never reaches the local cluster from functions/", () => {
    expect(
      violations(
        (f) => under(f, "functions"),
        (t) => under(t, "local"),
      ),
    ).toEqual([]);
  });
});

describe("Lambda bundles", () => {
  it.each(handlerNames())("%s carries no local/ code", async (name) => {
    const res = await build({ ...bundleOptions(name), write: false, sourcemap: false, logLevel: "error" });
    const inputs = Object.keys(res.metafile.inputs).map((i) =>
      relative(PROJECT_ROOT, resolve(PROJECT_ROOT, i)),
    );
    expect(inputs).toContain(`functions/handlers/${name}.ts`);
    expect(inputs.filter((i) => under(i, "local"))).toEqual([]);
  });
});
