// The node programs' bundles: one per program, runnable as `node main.mjs`, never carrying the local
// cluster, and only pure modules (plus the Route 53 adapter) from the control plane.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../local/paths.ts";
import { buildPrograms, programNames } from "../../scripts/build-containers.ts";

const outRoot = mkdtempSync(join(PROJECT_ROOT, ".build", "test-build-"));
afterAll(() => rmSync(outRoot, { recursive: true, force: true }));

describe("build-containers", () => {
  it("bundles every program from containers/<name>/src/main.ts, without the local cluster", async () => {
    expect(programNames()).toEqual(
      expect.arrayContaining(["ambassador", "frontdoor", "presence", "presence-dns"]),
    );
    const built = await buildPrograms(["ambassador", "frontdoor", "presence", "presence-dns"], {
      outRoot,
      deps: false,
    });
    for (const b of built) {
      expect(b.entry).toBe(join(outRoot, b.name, "main.mjs"));
      const fromProject = b.inputs.filter((i) => !i.startsWith("node_modules/"));
      // Never the local cluster; from functions/ only pure modules, the Route 53 adapter and the logger.
      expect(
        fromProject.filter((i) => /(^|\/)local\//.test(i)),
        b.name,
      ).toEqual([]);
      const fromFunctions = fromProject.filter((i) => i.startsWith("functions/"));
      expect(
        fromFunctions.filter(
          (i) =>
            !/^functions\/(core|domain)\//.test(i) &&
            !["functions/adapters/aws/route53Dns.ts", "functions/runtime/log.ts"].includes(i),
        ),
        b.name,
      ).toEqual([]);
      // etcd3 stays outside the bundle (it reads .proto files at run time).
      expect(
        b.inputs.some((i) => i.includes("node_modules/etcd3/")),
        b.name,
      ).toBe(false);
    }
  }, 60_000);

  it("copies a program's Perl control client beside its bundle, and only that program's", async () => {
    const [pg, presence] = await buildPrograms(["postgres", "presence"], { outRoot, deps: false });
    const client = join(pg!.dir, "control.pl");
    // It compiles with the Perl modules it names (the image's are the same: Debian's perl-modules).
    expect(
      execFileSync("perl", ["-c", client], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }),
    ).toBe("");
    expect(existsSync(join(presence!.dir, "control.pl"))).toBe(false);
    expect(existsSync(join(pg!.dir, "control.mjs"))).toBe(false);
  }, 60_000);
});
