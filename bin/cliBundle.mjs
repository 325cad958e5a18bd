// The prebuilt command line: bin/devcluster.ts and the local function host bundled with esbuild into
// .build/cli/, so `npx devcluster` starts without transpiling TypeScript. A bundle is used only while
// every source it was built from is older than the build; otherwise it is rebuilt first (never stale).
//   node bin/cliBundle.mjs     build it now (npm run build:cli; npm's `prepare` runs it after install)
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative } from "node:path";
import process from "node:process";
import { setTimeout } from "node:timers";
import { fileURLToPath, pathToFileURL } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const CLI_DIR = join(ROOT, ".build", "cli");
const CURRENT = join(CLI_DIR, "current.json");
/** Not in esbuild's inputs, yet a change to them changes the bundle: the builder and the dependency set. */
const ALSO = ["bin/cliBundle.mjs", "package-lock.json"];
/**
 * Project modules find project files from their own location (import.meta): in the bundle they keep
 * their source location, since the bundle's chunks live elsewhere. Except the function containers'
 * module: the worker it starts is `./functionHost.mjs` beside it, which in the bundle is the bundled
 * host (an entry point below) and from source the tsx loader beside local/cluster/functionHost.ts.
 */
const BUNDLE_LOCATED = new Set(["local/cluster/functions.ts"]);

/**
 * The bundle's entry module if a current one exists: built from these sources, none changed since.
 * @returns {string | undefined}
 */
export function currentBundle() {
  let meta;
  try {
    meta = JSON.parse(readFileSync(CURRENT, "utf8"));
  } catch {
    return undefined;
  }
  const entry = join(CLI_DIR, meta.dir, "devcluster.mjs");
  if (!existsSync(entry)) return undefined;
  for (const f of [...meta.inputs, ...ALSO]) {
    let mtime;
    try {
      mtime = statSync(join(ROOT, f)).mtimeMs;
    } catch {
      return undefined; // a source was removed or renamed
    }
    if (mtime >= meta.builtAt) return undefined;
  }
  return entry;
}

/**
 * Build the bundle into a fresh directory and make it current (an atomic rename of current.json, so
 * two commands building at once each end with a whole bundle). Returns its entry module.
 * @returns {Promise<string>}
 */
export async function buildBundle() {
  const { build } = await import("esbuild");
  // Taken before reading any source: a file saved during the build makes this bundle stale.
  const builtAt = Date.now();
  const dir = `b-${builtAt}-${process.pid}`;
  const outdir = join(CLI_DIR, dir);
  mkdirSync(outdir, { recursive: true });
  const res = await build({
    entryPoints: {
      devcluster: join(ROOT, "bin", "devcluster.ts"),
      functionHost: join(ROOT, "local", "cluster", "functionHost.ts"),
    },
    outdir,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    outExtension: { ".js": ".mjs" },
    // Subcommands are imported on demand: each stays in a chunk loaded only when it runs, and every
    // chunk sits beside the entry points (the function host is found as ./functionHost.mjs).
    splitting: true,
    chunkNames: "[name]-[hash]",
    keepNames: true, // error class names are part of what a caller sees
    external: ["etcd3", "esbuild", "playwright-core", "tsx"], // etcd3 reads .proto files beside itself
    // CommonJS dependencies call require() for Node built-ins; give the ESM bundle one.
    banner: { js: "import{createRequire as __cr}from'module';const require=__cr(import.meta.url);" },
    metafile: true,
    logLevel: "error",
    plugins: [
      {
        name: "source-located",
        setup(b) {
          b.onLoad({ filter: /\.ts$/ }, (args) => {
            const rel = relative(ROOT, args.path);
            if (rel.startsWith("..") || rel.includes("node_modules/") || BUNDLE_LOCATED.has(rel))
              return undefined;
            const text = readFileSync(args.path, "utf8");
            if (!text.includes("import.meta.")) return undefined;
            const file = JSON.stringify(relative(outdir, args.path));
            const dir = JSON.stringify(`${relative(outdir, dirname(args.path))}/`);
            const at = {
              url: `new URL(${file}, import.meta.url).href`,
              filename: `decodeURIComponent(new URL(${file}, import.meta.url).pathname)`,
              dirname: `decodeURIComponent(new URL(${dir}, import.meta.url).pathname).replace(/\\/$/, "")`,
            };
            return {
              contents: text.replace(/import\.meta\.(url|filename|dirname)\b/g, (_, k) => at[k]),
              loader: "ts",
            };
          });
        },
      },
    ],
  });
  const inputs = Object.keys(res.metafile.inputs).filter((f) => !f.includes("node_modules/"));
  const tmp = `${CURRENT}.${process.pid}`;
  writeFileSync(tmp, JSON.stringify({ dir, builtAt, inputs }));
  renameSync(tmp, CURRENT);
  removeOldBundles(dir);
  return join(outdir, "devcluster.mjs");
}

/**
 * Earlier bundles, once nothing can still load chunks from them: retired (no longer current) more
 * than 10 minutes ago, and no live process holds them (a long-running command: the functions host,
 * the dashboard, `journal -f`). A bundle still in use stays, whatever its age.
 */
function removeOldBundles(keep) {
  for (const d of readdirSync(CLI_DIR)) {
    if (d === keep || !d.startsWith("b-")) continue;
    const retired = join(CLI_DIR, d, "retired");
    if (!existsSync(retired)) writeFileSync(retired, "");
    const users = join(CLI_DIR, d, "users");
    const live = existsSync(users) ? readdirSync(users).filter((pid) => alive(Number(pid))) : [];
    if (!live.length && Date.now() - statSync(retired).mtimeMs > 10 * 60_000)
      rmSync(join(CLI_DIR, d), { recursive: true, force: true });
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === "EPERM";
  }
}

/**
 * This process runs `entry`'s bundle: if it still runs after a moment (a long-running command), it
 * says so in the bundle's `users/`, so a later build keeps the bundle while the process lives.
 * Commands that end within the moment leave nothing (they are done long before a bundle is removed).
 */
export function holdBundle(entry) {
  const users = join(dirname(entry), "users");
  setTimeout(() => {
    try {
      mkdirSync(users, { recursive: true });
      for (const pid of readdirSync(users))
        if (!alive(Number(pid))) rmSync(join(users, pid), { force: true });
      writeFileSync(join(users, String(process.pid)), "");
    } catch {
      // the bundle was removed meanwhile: nothing to hold
    }
  }, 2000).unref();
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  const t0 = Date.now();
  const entry = await buildBundle();
  process.stdout.write(`${relative(ROOT, entry)} built in ${Date.now() - t0} ms\n`);
}
