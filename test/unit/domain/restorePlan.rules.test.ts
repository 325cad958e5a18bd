// The restore plan's rules: its refusals, the members it chooses, and what each node script does
// (where it keeps files, which values it refuses to put in a script), read from the scripts themselves.
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { parseEnvFile } from "../../../functions/domain/etcdEnv.ts";
import {
  cleanupScript,
  fetchScript,
  howToRestore,
  planRestore,
  restoredEnvFile,
  startScript,
  swapScript,
  type RestoreNode,
} from "../../../functions/domain/restorePlan.ts";

const nodes: RestoreNode[] = [
  { instanceId: "i-0c", privateIp: "127.1.2.13", zone: "eu-west-1c", publicIp: "127.200.0.3" },
  { instanceId: "i-0a", privateIp: "127.1.2.11", zone: "eu-west-1a" },
  { instanceId: "i-0b", privateIp: "127.1.2.12", zone: "eu-west-1b" },
];
const manifest = { id: "20250506T000000000Z-abcdef01", sha256: "a".repeat(64), size: 12345 };
const at = new Date("2025-05-06T07:08:09.123Z");
const plan = (o: Partial<Parameters<typeof planRestore>[0]> = {}) =>
  planRestore({ cluster: "dev", manifest, nodes, at, random: "0badcafe", ...o });

describe("planning a restore", () => {
  it("takes every node, sorted by instance id, with its zone and addresses", () => {
    expect(plan().members).toEqual([
      { name: "i-0a", instanceId: "i-0a", ip: "127.1.2.11", zone: "eu-west-1a", publicIp: undefined },
      { name: "i-0b", instanceId: "i-0b", ip: "127.1.2.12", zone: "eu-west-1b", publicIp: undefined },
      { name: "i-0c", instanceId: "i-0c", ip: "127.1.2.13", zone: "eu-west-1c", publicIp: "127.200.0.3" },
    ]);
    expect(plan().snapshotId).toBe(manifest.id);
  });

  it.each(["", "abcde", "0BADCAFE", "0badcafe!", "!0badcafe", "0bad cafe"])(
    "refuses %j as the token's random part",
    (random) => {
      expect(() => plan({ random })).toThrow("random part must be hex");
    },
  );

  it("refuses no nodes and nodes that share an address", () => {
    expect(() => plan({ nodes: [] })).toThrow("no main nodes to restore onto");
    expect(() => plan({ nodes: [nodes[0]!, { ...nodes[1]!, privateIp: nodes[0]!.privateIp }] })).toThrow(
      "two main nodes share a private address",
    );
  });
});

describe("node scripts", () => {
  const p = plan();
  const m = p.members[0]!;
  const url = { bucket: "snaps-bucket", key: "etcd-snapshots/dev/data/x.db" };
  const download = `$ROOT/var/lib/etcd-restore/${manifest.id}.db`;

  it("all start strict, with $ROOT defaulting to empty and etcdctl found in /opt/bin", () => {
    for (const s of [fetchScript(p, manifest, url), swapScript(p, m), startScript(p), cleanupScript(p)]) {
      expect(s).toContain('set -euo pipefail\nROOT="${ROOT:-}"\nexport PATH="$ROOT/opt/bin:$PATH"\n');
    }
  });

  it("fetch into the download directory and check size and SHA-256 there", () => {
    const s = fetchScript(p, manifest, url);
    expect(s).toContain('mkdir -p "$ROOT/var/lib/etcd-restore"');
    expect(s).toContain(`f="${download}"`);
    expect(s).toContain(`if [ "$size" != "12345" ]`);
    expect(s).toContain(`echo "${"a".repeat(64)}  $f.part" | sha256sum -c --status`);
  });

  it("swap keeps the old settings beside the new ones and restores from the downloaded file", () => {
    const s = swapScript(p, m);
    expect(s).toContain(`f="${download}"`);
    expect(s).toContain('mkdir -p "$ROOT/etc/etcd"');
    expect(s).toContain(
      'cp -p "$ROOT/etc/etcd/etcd.env" "$ROOT/etc/etcd/etcd.env.before-restore-20250506T070809Z"',
    );
    expect(s).toContain("--name i-0a \\");
  });

  it("clean up removes only the downloaded file and its partial copy", () => {
    const s = cleanupScript(p);
    execFileSync("bash", ["-n", "-c", s]);
    expect(s.split("\n").filter((l) => l.startsWith("rm "))).toEqual([
      `rm -f "${download}" "${download}.part"`,
    ]);
  });

  it("write settings that name every member of the new cluster", () => {
    const env = parseEnvFile(restoredEnvFile(p, m));
    expect(env.ETCD_INITIAL_CLUSTER).toBe(
      "i-0a=http://127.1.2.11:2380,i-0b=http://127.1.2.12:2380,i-0c=http://127.1.2.13:2380",
    );
  });

  it.each([
    ["snapshot id", () => cleanupScript({ ...p, snapshotId: "x;y" })],
    ["bucket", () => fetchScript(p, manifest, { ...url, bucket: "b'; reboot; '" })],
    ["object key", () => fetchScript(p, manifest, { ...url, key: "x/$(reboot)" })],
    ["sha256", () => fetchScript(p, { ...manifest, sha256: "a b" }, url)],
    ["name", () => swapScript(p, { ...m, name: "a b" })],
    [
      "initial cluster",
      () =>
        swapScript(
          {
            ...p,
            members: [
              { ...m, name: "x" },
              { ...m, name: "y z" },
            ],
          },
          { ...m, name: "x" },
        ),
    ],
    ["token", () => swapScript({ ...p, token: "a b" }, m)],
    ["ip", () => swapScript({ ...p, members: [] }, { ...m, ip: "1 2" })],
    ["ETCD_NAME", () => restoredEnvFile(p, { ...m, name: "a$b" })],
    ["ETCD_INITIAL_CLUSTER_TOKEN", () => restoredEnvFile({ ...p, token: "$(x)" }, m)],
  ])("refuse an unsafe %s, naming it", (what, f) => {
    expect(f).toThrow(new RegExp(`^unsafe ${what.replace(/[$()]/g, "\\$&")} for a node script`));
  });

  it("tell how to restore by hand, confirming the cluster's name", () => {
    expect(howToRestore("dev")).toContain(`--data '{"snapshot":"latest","confirm":"dev"}'`);
  });
});
