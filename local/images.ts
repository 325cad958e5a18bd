// The cluster's images on this machine: built (or reused) by containers/build.sh with its progress,
// then published to the cluster's SSM parameter as a push to ECR publishes them on AWS.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { parseImageRefs, type ImageRefs } from "../functions/domain/images.ts";
import { CONTAINERS_CONF } from "./containers.ts";

const PROJECT_ROOT = resolve(import.meta.dirname, "..");
const BUILD_ALL = join(PROJECT_ROOT, "containers", "build.sh");
const REFS_FILE = join(PROJECT_ROOT, ".build", "containers", "images.json");

export interface BuiltImages {
  refs: ImageRefs;
  /** Images that could not be built (their units will fail on their nodes). */
  failed: string[];
  seconds: number;
}

/**
 * Build every image (or `names`), reusing those whose pinned tag exists; each progress line of the
 * build is passed on. An image that cannot be built is reported in `failed`; the rest are usable.
 */
export async function buildImages(
  progress: (line: string) => void,
  names: string[] = [],
): Promise<BuiltImages> {
  const t0 = performance.now();
  const failed: string[] = [];
  const code = await new Promise<number>((done, fail) => {
    const child = spawn("bash", [BUILD_ALL, ...names], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, CONTAINERS_CONF },
      stdio: ["ignore", "ignore", "pipe"],
    });
    createInterface({ input: child.stderr }).on("line", (line) => {
      const m = /^\[images\] not built: (.*) \(/.exec(line);
      if (m) failed.push(...m[1]!.split(" "));
      // The summary lines; per-image detail stays in the build's own output.
      if (line.startsWith("[images]") || / error: /.test(line))
        progress(line.replace(/^\[images\] /, "images: "));
    });
    child.on("error", fail);
    child.on("close", (c) => done(c ?? 1));
  });
  if (code !== 0 && !failed.length) throw new Error(`containers/build.sh failed (exit ${code})`);
  const refs = existsSync(REFS_FILE) ? parseImageRefs(readFileSync(REFS_FILE, "utf8")) : {};
  for (const f of failed) delete refs[f];
  return { refs, failed, seconds: (performance.now() - t0) / 1000 };
}
