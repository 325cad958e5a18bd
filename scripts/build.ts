// Bundles each Lambda handler (functions/handlers/<name>.ts) with esbuild into .build/functions/<name>/index.mjs
// beside the etcd3 dependency set: etcd3 reads .proto files from disk at run time, so it is not bundled.
import { build, type BuildOptions } from "esbuild";
import { execFileSync } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { PROJECT_ROOT } from "../local/paths.ts";

export const HANDLER_DIR = join(PROJECT_ROOT, "functions", "handlers");
/** `.build`, or DEVCLUSTER_BUILD_DIR: a deploy test or the local cluster packages beside, not over, it. */
export const OUT_DIR = process.env.DEVCLUSTER_BUILD_DIR ?? join(PROJECT_ROOT, ".build");
const CATALOG_DIR = join(PROJECT_ROOT, "functions", "catalog");

/** Every file in functions/handlers/ is one Lambda function. */
export function handlerNames(): string[] {
  return readdirSync(HANDLER_DIR)
    .filter((f) => f.endsWith(".ts") && statSync(join(HANDLER_DIR, f)).isFile())
    .map((f) => f.replace(/\.ts$/, ""))
    .sort();
}

/** What every bundle shares: the Lambda handlers and the node programs (scripts/build-containers.ts). */
export const NODE_BUNDLE = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  outExtension: { ".js": ".mjs" },
  keepNames: true, // error class names are part of what a caller sees
  sourcemap: "linked",
  external: ["etcd3"],
  metafile: true,
  legalComments: "none",
  // CommonJS dependencies call require() for Node built-ins; give the ESM bundle one.
  banner: { js: "import{createRequire as __cr}from'module';const require=__cr(import.meta.url);" },
  logLevel: "warning",
} satisfies BuildOptions;

/** esbuild's options for one function's bundle (the architecture test reads the same bundle's metafile). */
export function bundleOptions(name: string) {
  return {
    ...NODE_BUNDLE,
    entryPoints: { index: join(HANDLER_DIR, `${name}.ts`) },
    outdir: join(OUT_DIR, "functions", name),
    // Code reached only through dynamic import() (the EC2 fallback, recovery) stays in chunks
    // loaded on demand: V8 would pre-parse it in one flat file (measured: +16 MB at start).
    splitting: true,
    chunkNames: "chunks/[name]-[hash]",
    minify: true,
  } satisfies BuildOptions;
}

export async function buildFunctions(names = handlerNames()): Promise<{ name: string; bytes: number }[]> {
  const out: { name: string; bytes: number }[] = [];
  for (const name of names) {
    rmSync(join(OUT_DIR, "functions", name), { recursive: true, force: true });
    const res = await build(bundleOptions(name));
    // The units catalog is read from disk beside the bundle (functions/catalog/index.ts).
    // The team's services ride along in team/ (the cluster's `services` setting picks from them).
    for (const sub of ["", "team"]) {
      const from = join(CATALOG_DIR, sub);
      if (!existsSync(from)) continue;
      mkdirSync(join(OUT_DIR, "functions", name, sub), { recursive: true });
      for (const f of readdirSync(from).filter((f) => /\.(service|socket|timer|path|target)$/.test(f))) {
        copyFileSync(join(from, f), join(OUT_DIR, "functions", name, sub, f));
      }
    }
    const bytes = Object.values(res.metafile.outputs)
      .filter((o) => o.entryPoint)
      .reduce((n, o) => n + o.bytes, 0);
    out.push({ name, bytes });
  }
  return out;
}

/** Build the etcd3 dependency set (layers/etcd3); returns its node_modules folder. */
export function buildEtcd3Set(): string {
  execFileSync("bash", [join(PROJECT_ROOT, "layers", "etcd3", "build.sh")], { stdio: "inherit" });
  return join(OUT_DIR, "layers", "etcd3", "nodejs", "node_modules");
}

/**
 * Build the etcd3 dependency set (layers/etcd3) and place it beside every bundle, where Node's
 * resolution finds it: `.build/functions/<name>/node_modules`.
 */
export function buildDependencySets(names = handlerNames()) {
  const from = buildEtcd3Set();
  for (const name of names) {
    cpSync(from, join(OUT_DIR, "functions", name, "node_modules"), { recursive: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const t0 = performance.now();
  const fns = await buildFunctions();
  for (const f of fns) console.log(`function ${f.name}: ${(f.bytes / 1024).toFixed(0)} KiB`);
  if (!process.argv.includes("--no-deps")) buildDependencySets();
  console.log(`built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
