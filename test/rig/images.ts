// Container tests' shared steps: podman with the project's settings, and an image built (or
// reused, by its content tag) by containers/build.sh, named by the reference images.json gives it.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { CONTAINERS_CONF } from "../../local/containers.ts";
import { PROJECT_ROOT } from "../../local/paths.ts";

const sh = promisify(execFile);
export const podmanEnv = { ...process.env, CONTAINERS_CONF };

/** `podman <args>`: its stdout and stderr (rejects with both on a non-zero exit). */
export const podman = (args: string[]) => sh("podman", args, { env: podmanEnv, maxBuffer: 16 * 1024 * 1024 });

/** Builds each image as `containers/build.sh` does (a no-op for a tag that exists); their references. */
export async function builtImages(names: string[]): Promise<Record<string, string>> {
  await sh("bash", [join(PROJECT_ROOT, "containers", "build.sh"), ...names], {
    cwd: PROJECT_ROOT,
    env: podmanEnv,
    maxBuffer: 16 * 1024 * 1024,
    timeout: 900_000,
  });
  const refs = JSON.parse(
    readFileSync(join(PROJECT_ROOT, ".build", "containers", "images.json"), "utf8"),
  ) as Record<string, string>;
  const missing = names.filter((n) => !refs[n]);
  if (missing.length)
    throw new Error(`containers/build.sh left no reference in images.json for ${missing.join(", ")}`);
  return Object.fromEntries(names.map((n) => [n, refs[n]!]));
}

/** One image, built or reused; its reference. */
export const builtImage = async (name: string): Promise<string> => (await builtImages([name]))[name]!;

/**
 * `podman run -d` of `image` on the host's network (as every unit runs its containers), named
 * `name`, with `env`, bind mounts (`host:container[:ro]`), extra `podman run` options and the
 * image's arguments. Resolves once podman has started it.
 */
export async function runDetached(opts: {
  name: string;
  image: string;
  env?: Record<string, string>;
  volumes?: string[];
  options?: string[];
  args?: string[];
}): Promise<void> {
  await podman([
    ...["run", "-d", "--name", opts.name, "--net", "host"],
    ...(opts.options ?? []),
    ...(opts.volumes ?? []).flatMap((v) => ["-v", v]),
    ...Object.entries(opts.env ?? {}).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
    opts.image,
    ...(opts.args ?? []),
  ]);
}
