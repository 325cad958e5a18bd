// Pure parts of snapshot and restore: the streaming digest, the restore plan and its node scripts,
// presigned URLs, the choice of the member to snapshot.
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import { SnapshotDigest, digestingStream } from "../../../functions/domain/snapshotDigest.ts";
import {
  fetchScript,
  planRestore,
  restoredEnvFile,
  startScript,
  swapScript,
} from "../../../functions/domain/restorePlan.ts";
import { parseEnvFile } from "../../../functions/domain/etcdEnv.ts";
import { pickSource } from "../../../functions/operations/snapshot.ts";

/** A stand-in for an etcd snapshot stream: a database followed by its SHA-256, as etcd sends it. */
function fakeSnapshot(dbSize: number): Buffer {
  const db = Buffer.alloc(dbSize, 0);
  for (let i = 0; i < dbSize; i++) db[i] = (i * 31 + 7) % 251;
  return Buffer.concat([db, createHash("sha256").update(db).digest()]);
}
function digestOf(bytes: Buffer, chunk: number) {
  const d = new SnapshotDigest();
  for (let i = 0; i < bytes.length; i += chunk) d.update(bytes.subarray(i, i + chunk));
  return d.finish();
}

describe("snapshot digest", () => {
  const snap = fakeSnapshot(100_000);
  it.each([1, 7, 31, 32, 33, 4096, 200_000])(
    "checks etcd's trailer whatever the chunking (%i bytes)",
    (chunk) => {
      const r = digestOf(snap, chunk);
      expect(r).toEqual({
        sha256: createHash("sha256").update(snap).digest("hex"),
        size: snap.length,
        etcdTrailerOk: true,
      });
    },
  );
  it("sees a truncated, a flipped and an empty stream", () => {
    expect(digestOf(snap.subarray(0, snap.length - 1), 4096).etcdTrailerOk).toBe(false);
    expect(digestOf(snap.subarray(0, 50_000), 4096).etcdTrailerOk).toBe(false);
    const flipped = Buffer.from(snap);
    flipped[500] = flipped[500]! ^ 0x80;
    expect(digestOf(flipped, 4096).etcdTrailerOk).toBe(false);
    expect(digestOf(Buffer.alloc(0), 1).etcdTrailerOk).toBe(false);
    expect(digestOf(snap.subarray(0, 32), 1).etcdTrailerOk).toBe(false);
  });
  it("as a stream, fails at the end (not earlier, not silently) when the trailer is wrong", async () => {
    const ok = digestingStream({ requireEtcdTrailer: true });
    await pipeline(
      Readable.from([snap.subarray(0, 1000), snap.subarray(1000)]),
      ok.stream,
      async function* (src) {
        for await (const c of src) yield c;
      },
    );
    expect(ok.result().etcdTrailerOk).toBe(true);
    const bad = digestingStream({ requireEtcdTrailer: true });
    await expect(
      pipeline(Readable.from([snap.subarray(0, 1000)]), bad.stream, async function* (src) {
        for await (const c of src) yield c;
      }),
    ).rejects.toThrow(/incomplete/);
  });
});

const nodes = [
  { instanceId: "i-0b", privateIp: "127.1.2.12", zone: "eu-west-1b" },
  { instanceId: "i-0a", privateIp: "127.1.2.11", zone: "eu-west-1a" },
  { instanceId: "i-0c", privateIp: "127.1.2.13", zone: "eu-west-1c" },
];
const at = new Date("2025-05-06T07:08:09.123Z");
const manifest = { id: "20250506T000000000Z-abcdef01", sha256: "a".repeat(64), size: 12345 };

describe("restore plan", () => {
  it("puts every current main node in a new cluster with a fresh token", () => {
    const p = planRestore({ cluster: "dev", manifest, nodes, at, random: "0badcafe" });
    expect(p.members.map((m) => m.name)).toEqual(["i-0a", "i-0b", "i-0c"]);
    expect(p.token).toBe("dev-restore-20250506t070809z-0badcafe");
    expect(p.stamp).toBe("20250506T070809Z");
    expect(p.endpoints).toEqual([
      "http://127.1.2.11:2379",
      "http://127.1.2.12:2379",
      "http://127.1.2.13:2379",
    ]);
    expect(planRestore({ cluster: "dev", manifest, nodes, at, random: "00000001" }).token).not.toBe(p.token);
    expect(() => planRestore({ cluster: "dev", manifest, nodes: [], at, random: "0badcafe" })).toThrow(
      /no main nodes/,
    );
    expect(() =>
      planRestore({
        cluster: "dev",
        manifest,
        nodes: [nodes[0]!, { ...nodes[1]!, privateIp: "127.1.2.12" }],
        at,
        random: "0badcafe",
      }),
    ).toThrow(/share/);
  });

  it("renders node scripts that are valid bash, touch only $ROOT paths and never delete the data dir", () => {
    const p = planRestore({ cluster: "dev", manifest, nodes, at, random: "0badcafe" });
    const object = { bucket: "snaps-bucket", key: "etcd-snapshots/dev/data/x.db" };
    const scripts = [fetchScript(p, manifest, object), swapScript(p, p.members[0]!), startScript(p)];
    for (const s of scripts) {
      execFileSync("bash", ["-n", "-c", s]);
      // Every absolute path the script names is under $ROOT (URLs aside).
      const paths = s
        .replace(/'https?:[^']*'/g, "")
        .replace(/https?:\/\/[^\s,]*/g, "")
        .match(/(?<![\w$}])\/(etc|var|opt|run|usr)\/[\w./-]*/g);
      expect(paths ?? []).toEqual([]);
      expect(s).not.toMatch(/rm -rf|rm -r /);
    }
    const swap = scripts[1]!;
    expect(swap).toContain('mv "$ROOT/var/lib/etcd" "$ROOT/var/lib/etcd.before-restore-20250506T070809Z"');
    // The member keeps its transport: plain, or TLS when its old settings name a certificate.
    expect(swap).toContain(
      "tls=0; initial_cluster=i-0a=http://127.1.2.11:2380,i-0b=http://127.1.2.12:2380,i-0c=http://127.1.2.13:2380; peer_url=http://127.1.2.11:2380",
    );
    expect(swap).toContain(
      "tls=1; initial_cluster=i-0a=https://127.1.2.11:2380,i-0b=https://127.1.2.12:2380,i-0c=https://127.1.2.13:2380; peer_url=https://127.1.2.11:2380",
    );
    expect(swap).toContain(`grep -q '^ETCD_CERT_FILE=' "$ROOT/etc/etcd/etcd.env"`);
    expect(swap).toContain('--initial-cluster "$initial_cluster"');
    expect(swap).toContain(`--initial-cluster-token ${p.token}`);
    expect(swap).toContain('--initial-advertise-peer-urls "$peer_url"');
    expect(swap).toContain('ETCD_CERT_FILE="$ROOT/etc/devcluster/pki/node.crt"');
    expect(swap.indexOf("systemctl stop")).toBeLessThan(swap.indexOf("mv "));
    expect(scripts[0]).toContain(`bucket='snaps-bucket'\nkey='etcd-snapshots/dev/data/x.db'\n`);
    // Nothing secret in the command: no signature, credential or token, only where the object is.
    expect(scripts[0]).not.toMatch(/X-Amz-(Signature|Credential|Security-Token)=|AKIA|ASIA/);
    // Credentials reach curl on its standard input, never its command line.
    expect(scripts[0]).toMatch(/\| curl [^\n]*--aws-sigv4 "aws:amz:\$region:s3" -K - /);
    expect(scripts[0]).not.toMatch(/--user /);
    expect(scripts[0]).toContain("sha256sum -c");
    expect(scripts[0]).not.toContain("systemctl stop");
    expect(scripts[2]).toContain("systemctl start --no-block etcd-member.service");
  });

  it("writes settings for a member of an existing cluster, with the new token and every peer", () => {
    const p = planRestore({ cluster: "dev", manifest, nodes, at, random: "0badcafe" });
    const env = parseEnvFile(restoredEnvFile(p, p.members[1]!));
    expect(env).toMatchObject({
      ETCD_NAME: "i-0b",
      ETCD_DATA_DIR: "$ROOT/var/lib/etcd",
      ETCD_INITIAL_CLUSTER_STATE: "existing",
      ETCD_INITIAL_CLUSTER_TOKEN: p.token,
      ETCD_LISTEN_CLIENT_URLS: "http://127.1.2.12:2379",
      ETCD_INITIAL_ADVERTISE_PEER_URLS: "http://127.1.2.12:2380",
    });
  });

  it("refuses values that would break out of the script", () => {
    const p = planRestore({ cluster: "dev", manifest, nodes, at, random: "0badcafe" });
    const object = { bucket: "snaps-bucket", key: "etcd-snapshots/dev/data/x.db" };
    expect(() => fetchScript(p, manifest, { ...object, key: "x'; rm -rf /" })).toThrow(/unsafe/);
    expect(() => fetchScript(p, { ...manifest, sha256: "$(reboot)" }, object)).toThrow(/unsafe/);
    expect(() => swapScript({ ...p, token: "a b" }, p.members[0]!)).toThrow(/unsafe/);
  });
});

describe("snapshot source", () => {
  const st = (memberId: string, leader: string, extra = {}) => ({
    endpoint: `http://${memberId}:2379`,
    clusterId: "1",
    memberId,
    leader,
    revision: 5,
    dbSize: 1,
    isLearner: false,
    appliedIndex: 9,
    committedIndex: 9,
    term: 2,
    ...extra,
  });
  it("prefers a healthy follower, falls back to the leader, skips learners, the unhealthy and the silent", () => {
    expect(pickSource([st("a", "a"), st("b", "a"), st("c", "a")], [true, true, true])!.memberId).toBe("b");
    expect(pickSource([st("a", "a"), st("b", "a")], [true, false])!.memberId).toBe("a");
    expect(
      pickSource([undefined, st("b", "a", { isLearner: true }), st("c", "0")], [false, true, true]),
    ).toBeUndefined();
  });
});
