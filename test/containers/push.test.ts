// The push path of the images, run for real: `containers/<name>/build.sh --push` against a real
// registry on loopback (Debian's docker-registry, the CNCF distribution server that the registry
// API of ECR follows), the pinned reference it prints (tag + digest), and a pull by that reference.
// ECR's own login (`aws ecr get-login-password | podman login`) is not run: no registry here speaks
// ECR's token auth, and moto serves ECR's control API only, not the registry protocol.
import { spawn, type ChildProcess } from "node:child_process";
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseImageRefs } from "../../functions/domain/images.ts";
import { PROJECT_ROOT } from "../../local/paths.ts";
import { CONTAINERS_CONF } from "../../local/containers.ts";
import { useRig } from "../rig/index.ts";

const run = promisify(execFile);
const rig = useRig();
let registry: ChildProcess | undefined;
let host = "";
let env: NodeJS.ProcessEnv = {};
const pushed: string[] = [];

async function startRegistry(addr: string, dir: string): Promise<ChildProcess> {
  const config = join(dir, "registry.yml");
  writeFileSync(
    config,
    [
      "version: 0.1",
      "log:",
      "  level: warn",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${join(dir, "data")}`,
      "http:",
      `  addr: ${addr}`,
      "",
    ].join("\n"),
  );
  const child = spawn("docker-registry", ["serve", config], { stdio: "ignore" });
  const t0 = Date.now();
  for (;;) {
    const ok = await fetch(`http://${addr}/v2/`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return child;
    if (Date.now() - t0 > 15_000) throw new Error(`docker-registry did not answer on ${addr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `containers/hello/build.sh` with `args`; stdout is the reference units should run. */
function build(args: string[]) {
  return run("bash", [join(PROJECT_ROOT, "containers", "hello", "build.sh"), ...args], {
    cwd: PROJECT_ROOT,
    env,
    maxBuffer: 16 * 1024 * 1024,
    timeout: 900_000,
  });
}

beforeAll(async () => {
  const dir = join(rig.dir, "registry");
  mkdirSync(dir, { recursive: true });
  host = `${rig.block.address(20)}:5000`;
  registry = await startRegistry(host, dir);
  // podman's standard registries.conf: this loopback registry speaks plain HTTP (ECR is HTTPS).
  const registries = join(dir, "registries.conf");
  writeFileSync(registries, `[[registry]]\nlocation = "${host}"\ninsecure = true\n`);
  env = { ...process.env, CONTAINERS_CONF, CONTAINERS_REGISTRIES_CONF: registries };
}, 30_000);

afterAll(async () => {
  for (const ref of pushed)
    await run("podman", ["rmi", "--force", ref.replace(/@sha256:.*/, "")], { env }).catch(() => undefined);
  registry?.kill("SIGTERM");
});

describe("pushing an image", () => {
  it("pushes under its pinned tag and prints <registry>/<name>:<tag>@sha256:<digest>", async () => {
    const local = (await build([])).stdout.trim();
    const tag = /^localhost\/devcluster\/hello:(\d+\.\d+\.\d+-[0-9a-f]{12})$/.exec(local)?.[1];
    expect(tag, local).toBeDefined();

    const namespace = `${host}/${rig.unique("cluster")}`;
    const { stdout } = await build(["--push", "--registry", namespace]);
    const ref = stdout.trim();
    pushed.push(ref);
    expect(ref).toMatch(new RegExp(`^${namespace.replace(/\./g, "\\.")}/hello:${tag}@sha256:[0-9a-f]{64}$`));
    // What publish accepts on AWS: a reference with a tag and a digest.
    expect(parseImageRefs(JSON.stringify({ hello: ref }), { requireDigest: true })).toEqual({ hello: ref });

    // The registry holds that manifest under that tag, with that digest.
    const repo = namespace.slice(host.length + 1);
    const res = await fetch(`http://${host}/v2/${repo}/hello/manifests/${tag}`, {
      method: "HEAD",
      headers: {
        accept: [
          "application/vnd.oci.image.manifest.v1+json",
          "application/vnd.docker.distribution.manifest.v2+json",
        ].join(", "),
      },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("docker-content-digest")).toBe(ref.slice(ref.indexOf("@") + 1));

    // A node runs exactly that image: pulled by digest after the local copy of the tag is gone.
    await run("podman", ["rmi", ref.replace(/@sha256:.*/, "")], { env });
    await run("podman", ["pull", "--quiet", ref], { env });
    const { stdout: id } = await run("podman", ["image", "inspect", "--format", "{{.Id}}", ref], { env });
    const { stdout: localId } = await run("podman", ["image", "inspect", "--format", "{{.Id}}", local], {
      env,
    });
    expect(id.trim()).toBe(localId.trim());

    // Pushing again is a no-op with the same reference (the tag is immutable and unchanged).
    expect((await build(["--push", "--registry", namespace])).stdout.trim()).toBe(ref);
  }, 900_000);

  it("fails with the reference it could not push when the registry is unreachable", async () => {
    const down = `${rig.block.address(21)}:5000/nowhere`;
    const err = await build(["--push", "--registry", down]).then(
      () => undefined,
      (e: { code?: number; stderr?: string }) => e,
    );
    expect(err?.code).not.toBe(0);
    expect(err?.stderr).toMatch(new RegExp(`error: push of ${down.replace(/\./g, "\\.")}/hello:\\S+ failed`));
    // The tag made for the push stays local only; remove it.
    const { stdout } = await run(
      "podman",
      ["images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", `reference=${down}/hello`],
      { env },
    );
    for (const t of stdout.split("\n").filter(Boolean)) await run("podman", ["rmi", t], { env });
  }, 900_000);

  it("refuses --push without a registry, naming where the registry comes from", async () => {
    const err = await build(["--push"]).then(
      () => undefined,
      (e: { code?: number; stderr?: string }) => e,
    );
    expect(err?.code).not.toBe(0);
    expect(err?.stderr).toMatch(/--push needs the registry \(--registry or DEVCLUSTER_REGISTRY/);
  }, 900_000);
});
