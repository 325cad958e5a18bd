// Bundles each node program (containers/<name>/src/main.ts) into .build/containers/<name>/main.mjs
// beside the etcd3 dependency set, with the same esbuild settings as the Lambda bundles. A program's
// `src/control.pl`, when it has one, is copied beside it: a small client of the running program in
// the image's Perl, which starts without Node (ARCHITECTURE.md decision 77).
import { build } from "esbuild";
import { copyFileSync, cpSync, existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { PROJECT_ROOT } from "../local/paths.ts";
import { NODE_BUNDLE, OUT_DIR, buildEtcd3Set } from "./build.ts";

export const CONTAINERS_DIR = join(PROJECT_ROOT, "containers");

/** Every folder of containers/ with a `src/main.ts` is a program. */
export function programNames(): string[] {
  return readdirSync(CONTAINERS_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(CONTAINERS_DIR, d.name, "src", "main.ts")))
    .map((d) => d.name)
    .sort();
}

/**
 * Bundle `names` into `<outRoot>/<name>/main.mjs`. Without the dependency set, `main.mjs` finds
 * etcd3 through Node's resolution upwards (the project's node_modules), which is how tests run it.
 */
export async function buildPrograms(names = programNames(), opts: { outRoot?: string; deps?: boolean } = {}) {
  const outRoot = opts.outRoot ?? join(OUT_DIR, "containers");
  const out: { name: string; dir: string; entry: string; bytes: number; inputs: string[] }[] = [];
  for (const name of names) {
    const dir = join(outRoot, name);
    rmSync(dir, { recursive: true, force: true });
    const res = await build({
      ...NODE_BUNDLE,
      entryPoints: { main: join(CONTAINERS_DIR, name, "src", "main.ts") },
      outdir: dir,
      minify: true,
    });
    const control = join(CONTAINERS_DIR, name, "src", "control.pl");
    if (existsSync(control)) copyFileSync(control, join(dir, "control.pl"));
    const bytes = Object.values(res.metafile.outputs)
      .filter((o) => o.entryPoint)
      .reduce((n, o) => n + o.bytes, 0);
    out.push({ name, dir, entry: join(dir, "main.mjs"), bytes, inputs: Object.keys(res.metafile.inputs) });
  }
  if (opts.deps ?? true) {
    const set = buildEtcd3Set();
    for (const o of out) cpSync(set, join(o.dir, "node_modules"), { recursive: true });
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const t0 = performance.now();
  const args = process.argv.slice(2);
  const names = args.filter((a) => !a.startsWith("--"));
  const known = programNames();
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length) {
    console.error(`unknown program(s): ${unknown.join(", ")} (known: ${known.join(", ")})`);
    process.exit(2);
  }
  const built = await buildPrograms(names.length ? names : known, { deps: !args.includes("--no-deps") });
  for (const b of built) console.log(`container ${b.name}: ${(b.bytes / 1024).toFixed(0)} KiB -> ${b.entry}`);
  console.log(`built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
