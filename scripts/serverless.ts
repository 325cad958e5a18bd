// The service as osls sees it, in a directory of its own: build + `sls package` into an artifact
// directory, and any `sls` command (deploy, info, remove) run there. A deploy test, the benchmark
// and the local cluster each package beside the project's own .build/.serverless, never over them.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
} from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SLS = join(PROJECT_ROOT, "node_modules", ".bin", "sls");

/** What a package is made from: a change to any of these makes a new package. */
const PACKAGE_INPUTS = [
  "serverless.yml",
  "package-lock.json",
  "functions",
  "cloudformation",
  "layers/etcd3",
  "scripts/build.ts",
];

export interface SlsResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * A directory osls can run in: serverless.yml copied (osls writes `.serverless/` beside it), the
 * generator and node_modules linked from the project. Idempotent.
 */
export function stageService(dir: string): string {
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(PROJECT_ROOT, "serverless.yml"), join(dir, "serverless.yml"));
  for (const name of ["cloudformation", "node_modules", "package.json"]) {
    if (!existsSync(join(dir, name))) symlinkSync(join(PROJECT_ROOT, name), join(dir, name));
  }
  return dir;
}

/** Run `sls <args>` in a staged service directory; never throws on a non-zero exit. */
export function sls(
  dir: string,
  args: string[],
  env: Record<string, string | undefined> = process.env,
): Promise<SlsResult> {
  const t0 = performance.now();
  return new Promise((done) => {
    execFile(
      SLS,
      args,
      {
        cwd: dir,
        env: {
          ...env,
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
          SLS_TELEMETRY_DISABLED: "1",
        },
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        done({ code, stdout: String(stdout), stderr: String(stderr), ms: performance.now() - t0 });
      },
    );
  });
}

/** Throws with the command's output when it failed. */
export function mustSucceed(what: string, r: SlsResult): SlsResult {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** Build the functions into `<dir>/.build`, where the staged serverless.yml's patterns find them. */
export async function buildInto(dir: string): Promise<number> {
  stageService(dir);
  const t0 = performance.now();
  await new Promise<void>((done, fail) =>
    execFile(
      join(PROJECT_ROOT, "node_modules", ".bin", "tsx"),
      [join(PROJECT_ROOT, "scripts", "build.ts")],
      {
        cwd: PROJECT_ROOT,
        env: { ...process.env, DEVCLUSTER_BUILD_DIR: join(dir, ".build") },
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) =>
        err ? fail(new Error(`build failed: ${stderr || stdout}`, { cause: err })) : done(),
    ),
  );
  return performance.now() - t0;
}

/**
 * `sls package` the built service into `artifact` (what `sls deploy --package` takes), offline: no
 * credentials or endpoint reach osls. `params` are osls `--param`s (domain, cluster): a package
 * carries its stack parameters, so a deploy from it uses those.
 */
export async function packageService(opts: {
  dir: string;
  artifact: string;
  params?: Record<string, string>;
  region?: string;
  stage?: string;
}): Promise<number> {
  rmSync(opts.artifact, { recursive: true, force: true });
  const args = ["package", "--package", opts.artifact];
  for (const [k, v] of Object.entries(opts.params ?? {})) args.push(`--param=${k}=${v}`);
  if (opts.region) args.push("--region", opts.region);
  if (opts.stage) args.push("--stage", opts.stage);
  const r = mustSucceed(
    "sls package",
    await sls(opts.dir, args, { PATH: process.env.PATH, HOME: process.env.HOME }),
  );
  return r.ms;
}

/** A content hash of everything a package is made from (a cache key for packaged artifacts). */
export function packageInputsHash(): string {
  const h = createHash("sha256");
  const walk = (p: string) => {
    const abs = join(PROJECT_ROOT, p);
    if (!existsSync(abs)) return;
    if (statSync(abs).isDirectory()) {
      for (const e of readdirSync(abs).sort()) if (e !== "node_modules") walk(join(p, e));
      return;
    }
    h.update(relative(PROJECT_ROOT, abs)).update("\0").update(readFileSync(abs)).update("\0");
  };
  for (const p of PACKAGE_INPUTS) walk(p);
  return h.digest("hex").slice(0, 16);
}
