// Bad synth input fails with InvalidInputError naming the option and the rule; nothing is written.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { InvalidInputError } from "../../../functions/domain/errors.ts";
import { synth } from "../../../cloudformation/cli.ts";
import { buildTemplate } from "../../../cloudformation/template.ts";
import type { SynthOptions } from "../../../cloudformation/options.ts";

const dir = mkdtempSync(join(tmpdir(), "devcluster-synth-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cases: [string, Partial<SynthOptions>, RegExp][] = [
  ["even main size", { mainSize: 4 }, /mainSize: must be odd/],
  ["main size above 9", { mainSize: 11 }, /mainSize: must be at most 9/],
  ["main size below 3", { mainSize: 1 }, /mainSize: must be at least 3/],
  ["fractional main size", { mainSize: 3.5 }, /mainSize: must be an integer/],
  ["unknown region", { region: "mars-north-1" }, /region: must be a known AWS region/],
  ["region with two zones", { region: "us-west-1" }, /region: must offer three availability zones/],
  ["DNS name that is not a name", { clusterDomain: "not a name" }, /clusterDomain: must be a DNS name/],
  ["DNS name with a bad label", { clusterDomain: "-dev.internal" }, /clusterDomain: must be a DNS name/],
  ["DNS name without a dot", { clusterDomain: "internal" }, /clusterDomain: must be a DNS name/],
  ["cluster name with capitals", { clusterName: "Dev" }, /clusterName: must be lower-case/],
  ["public VPC block", { vpcCidr: "8.8.0.0/16" }, /vpcCidr: must be a private \/16/],
  [
    "service ports over etcd",
    { servicePorts: [{ from: 2000, to: 3000, protocol: "tcp" }] },
    /servicePorts\[0\]: must not include port 2379/,
  ],
  [
    "service ports over SSH",
    { servicePorts: [{ from: 22, to: 22, protocol: "tcp" }] },
    /servicePorts\[0\]: must not include port 22/,
  ],
  [
    "snapshot interval too short",
    { snapshotIntervalMinutes: 1 },
    /snapshotIntervalMinutes: must be an integer from 5 to 720/,
  ],
  ["unknown function", { functionsInTemplate: ["nope" as never] }, /functionsInTemplate/],
];

describe("synth-time validation", () => {
  it.each(cases)("rejects %s", (_name, options, message) => {
    const out = join(dir, `${_name.replace(/\W+/g, "-")}.json`);
    let error: unknown;
    try {
      synth(options, out);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toMatch(message);
    expect(existsSync(out)).toBe(false);
  });

  it("names every broken rule at once", () => {
    expect(() => buildTemplate({ mainSize: 8, region: "nowhere-1" })).toThrow(
      /mainSize: must be odd.*region: must be a known/,
    );
  });

  it.each([3, 5, 7, 9])("accepts main size %i and makes it the MainSize default", (n) => {
    expect(buildTemplate({ mainSize: n }).Parameters.MainSize!.Default).toBe(n);
  });

  it("writes the template only when synthesis succeeds", () => {
    const out = join(dir, "ok", "template.json");
    const r = synth({ clusterName: "team" }, out);
    expect(existsSync(out)).toBe(true);
    expect(r.template.Parameters.ClusterDomain!.Default).toBe("team.internal");
  });
});

describe("the local etcd build and the template's etcd", () => {
  it("scripts/etcd builds the release the template installs on main nodes by default", async () => {
    const { readFileSync } = await import("node:fs");
    const { DEFAULT_OPTIONS } = await import("../../../cloudformation/options.ts");
    const goMod = readFileSync(join(import.meta.dirname, "../../../scripts/etcd/go.mod"), "utf8");
    const versions = [...goMod.matchAll(/^\s*go\.etcd\.io\/etcd\/(server|etcdctl)\/v3 (v\S+)$/gm)];
    expect(versions.map((m) => m[1]).sort()).toEqual(["etcdctl", "server"]);
    for (const m of versions) expect(m[2]).toBe(DEFAULT_OPTIONS.etcdVersion);
  });
});
