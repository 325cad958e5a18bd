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

/** Builds `name`'s image as `containers/build.sh` does (a no-op when its tag exists); its reference. */
export async function builtImage(name: string): Promise<string> {
  await sh("bash", [join(PROJECT_ROOT, "containers", "build.sh"), name], {
    cwd: PROJECT_ROOT,
    env: podmanEnv,
    maxBuffer: 16 * 1024 * 1024,
    timeout: 600_000,
  });
  const refs = JSON.parse(
    readFileSync(join(PROJECT_ROOT, ".build", "containers", "images.json"), "utf8"),
  ) as Record<string, string>;
  const ref = refs[name];
  if (!ref) throw new Error(`containers/build.sh ${name} left no reference in images.json`);
  return ref;
}

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
