// The snapshot function against real etcd members (on local nodes with loopback addresses from moto)
// and moto's S3 and CloudWatch.
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { GetMetricStatisticsCommand } from "@aws-sdk/client-cloudwatch";
import {
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAwsClients, type AwsClients } from "../../../functions/adapters/aws/clients.ts";
import { awsGroups } from "../../../functions/adapters/aws/groups.ts";
import { cloudwatchMetrics } from "../../../functions/adapters/aws/cloudwatchMetrics.ts";
import { createEtcdSnapshotApi } from "../../../functions/adapters/etcd/snapshots.ts";
import { s3SnapshotStore } from "../../../functions/adapters/aws/s3Snapshots.ts";
import { createLogger } from "../../../functions/runtime/log.ts";
import { etcdClientUrl } from "../../../functions/domain/model.ts";
import { validity, dataKey, manifestKey } from "../../../functions/domain/snapshots.ts";
import { ETCDCTL_BIN } from "../../../local/paths.ts";
import { stopNodeProcessesUnder } from "../../../local/node.ts";
import { layoutOf, runSnapshot, type SnapshotDeps } from "../../../functions/operations/snapshot.ts";
import type { EtcdSnapshotApi } from "../../../functions/ports/snapshots.ts";
import { useRig } from "../../rig/index.ts";
import {
  createBucket,
  createMainGroup,
  loadKeys,
  loopbackSubnet,
  startClusterOnNodes,
  testConfig,
} from "./snapshotCluster.ts";

const rig = useRig({ moto: true });
// Registered after the rig's own hook, so it runs first: the nodes' etcd processes go before their dirs.
afterAll(() => stopNodeProcessesUnder(rig.dir));

let aws: AwsClients;
let deps: SnapshotDeps;
let endpoints: string[];

/** An etcd API whose snapshot stream fails (or ends early) after `after` bytes. */
function cutting(api: EtcdSnapshotApi, after: number, how: "error" | "end"): EtcdSnapshotApi {
  return {
    ...api,
    async openSnapshot(endpoint) {
      const snap = await api.openSnapshot(endpoint);
      let seen = 0;
      async function* cut() {
        for await (const chunk of snap.stream as AsyncIterable<Buffer>) {
          if (seen + chunk.length > after) {
            yield chunk.subarray(0, after - seen);
            if (how === "error") throw new Error("member died mid-stream (test)");
            return;
          }
          seen += chunk.length;
          yield chunk;
        }
      }
      return { stream: Readable.from(cut(), { objectMode: false }), close: snap.close };
    },
  };
}

beforeAll(async () => {
  aws = createAwsClients();
  const cluster = "snaptest";
  const bucket = rig.unique("snaps");
  const group = rig.unique("main");
  await createBucket(aws, bucket);
  const subnetId = await loopbackSubnet(aws, rig.block.prefix, 64);
  const nodes = await createMainGroup(aws, { name: group, cluster, subnetId, size: 3 });
  await startClusterOnNodes(join(rig.dir, "cluster"), nodes, rig.unique("tok"));
  endpoints = nodes.map((n) => etcdClientUrl(n.privateIp));
  // About 12 MB of values: more than one 5 MiB part, so the upload is a real multipart upload.
  await loadKeys(endpoints, "/data/", 12_000, 1000);
  const cfg = testConfig({
    SNAPSHOT_BUCKET: bucket,
    GROUP_MAIN: group,
    CLUSTER_NAME: cluster,
    RETAIN_LAST: 3,
    RETAIN_DAYS: 0,
  });
  deps = {
    cfg,
    log: createLogger({ test: "snapshot" }),
    groups: awsGroups(aws),
    etcd: createEtcdSnapshotApi(),
    store: s3SnapshotStore(aws.s3, bucket, layoutOf(cfg)),
    metrics: cloudwatchMetrics(aws.cloudwatch, cfg.METRIC_NAMESPACE, cluster),
    tuning: { partSize: 5 * 1024 * 1024, queueSize: 2 },
    // No discovery records here (and no DNS queries off loopback): members come from the main group.
    resolveSrv: async () => {
      throw Object.assign(new Error("queryNotFound"), { code: "ENOTFOUND" });
    },
  };
}, 120_000);

describe("snapshot", () => {
  it("streams a member's snapshot into S3 with its SHA-256 and a manifest that makes it valid", async () => {
    const s = await runSnapshot(deps, { "detail-type": "Scheduled Event", source: "aws.events" });
    expect(s.size).toBeGreaterThan(5 * 1024 * 1024);
    expect(s.keyCount).toBe(12_000);
    expect(endpoints).toContain(s.source);

    const obj = await aws.s3.send(new GetObjectCommand({ Bucket: deps.cfg.SNAPSHOT_BUCKET, Key: s.dataKey }));
    const bytes = Buffer.from(await obj.Body!.transformToByteArray());
    expect(bytes.length).toBe(s.size);
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(s.sha256);
    // It is what `etcdctl snapshot save` would have written: etcdctl accepts it and reads the same keys.
    const file = join(rig.dir, "got.db");
    writeFileSync(file, bytes);
    const status = JSON.parse(
      execFileSync(ETCDCTL_BIN, ["snapshot", "status", file, "-w", "json"]).toString(),
    );
    expect(status.totalKey).toBeGreaterThanOrEqual(12_000);

    const listed = await deps.store.list();
    const mine = listed.find((o) => o.id === s.id)!;
    expect(validity(deps.store.layout, mine)).toBeUndefined();
    expect(mine.manifest).toMatchObject({
      id: s.id,
      sha256: s.sha256,
      size: s.size,
      keyCount: 12_000,
      cluster: "snaptest",
    });
    expect(mine.manifest!.members).toHaveLength(3);
    expect(mine.manifest!.revision).toBeGreaterThanOrEqual(12_001);

    const stats = await aws.cloudwatch.send(
      new GetMetricStatisticsCommand({
        Namespace: "Devcluster",
        MetricName: "SnapshotSucceeded",
        Dimensions: [{ Name: "Cluster", Value: "snaptest" }],
        StartTime: new Date(Date.now() - 3600_000),
        EndTime: new Date(Date.now() + 60_000),
        Period: 60,
        Statistics: ["Sum"],
      }),
    );
    expect(stats.Datapoints?.reduce((a, d) => a + (d.Sum ?? 0), 0)).toBeGreaterThanOrEqual(1);
  });

  it("finds the members through the etcd client discovery record when there is one", async () => {
    const names: string[] = [];
    const s = await runSnapshot(
      {
        ...deps,
        groups: async () => {
          throw new Error("the group must not be needed");
        },
        resolveSrv: async (name) => {
          names.push(name);
          return endpoints.map((e) => ({ name: new URL(e).hostname + ".", port: 2379 }));
        },
      },
      { skipRetention: true },
    );
    expect(names).toEqual(["_etcd-client._tcp.dev.internal"]);
    expect(endpoints).toContain(s.source);
  });

  it("never marks a snapshot interrupted mid-stream valid, nor leaves an upload behind", async () => {
    const before = (await deps.store.list()).filter((o) => !validity(deps.store.layout, o)).map((o) => o.id);
    for (const [after, how] of [
      [7 * 1024 * 1024, "error"], // after the first part was uploaded
      [7 * 1024 * 1024, "end"], // the stream "ends" cleanly but short: the etcd trailer check catches it
      [100_000, "end"], // short enough for a single PutObject
    ] as const) {
      await expect(runSnapshot({ ...deps, etcd: cutting(deps.etcd, after, how) }, {})).rejects.toThrow(
        how === "error" ? /mid-stream/ : /incomplete/,
      );
    }
    const listed = await deps.store.list();
    expect(listed.filter((o) => !validity(deps.store.layout, o)).map((o) => o.id)).toEqual(before);
    // No data object either, and no multipart upload left open.
    expect(listed.filter((o) => o.data && !o.manifest)).toEqual([]);
    const mpu = await aws.s3.send(new ListMultipartUploadsCommand({ Bucket: deps.cfg.SNAPSHOT_BUCKET }));
    expect(mpu.Uploads ?? []).toEqual([]);
  });

  it("does not overwrite a manifest, and lists a manifest that does not match its data as invalid", async () => {
    await runSnapshot({ ...deps, cfg: { ...deps.cfg, RETAIN_LAST: 10 } }, {}); // an older valid one
    const s = await runSnapshot({ ...deps, cfg: { ...deps.cfg, RETAIN_LAST: 10 } }, {});
    const [mine] = (await deps.store.list()).filter((o) => o.id === s.id);
    await expect(deps.store.putManifest({ ...mine!.manifest!, keyCount: 1 })).rejects.toThrow();
    // Truncate the data object behind the manifest's back (as a broken copy would).
    const bucket = deps.cfg.SNAPSHOT_BUCKET;
    await aws.s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: dataKey(deps.store.layout, s.id), Body: Buffer.alloc(10) }),
    );
    const after = (await deps.store.list()).find((o) => o.id === s.id)!;
    expect(validity(deps.store.layout, after)).toMatch(/size 10 != manifest/);
    // And the newest valid one is now an older snapshot.
    const valid = (await deps.store.list())
      .filter((o) => !validity(deps.store.layout, o))
      .map((o) => o.id)
      .sort();
    expect(valid).not.toContain(s.id);
    expect(valid.length).toBeGreaterThanOrEqual(1);
  });

  it("applies retention after each snapshot: keeps the last N and removes leftovers past the grace period", async () => {
    // Its own bucket, so what it counts does not depend on the tests before it.
    const bucket = rig.unique("retention");
    await createBucket(aws, bucket);
    const cfg = { ...deps.cfg, SNAPSHOT_BUCKET: bucket };
    const own = { ...deps, cfg, store: s3SnapshotStore(aws.s3, bucket, layoutOf(cfg)) };
    const keep10 = { ...own, cfg: { ...cfg, RETAIN_LAST: 10 } };
    await runSnapshot(keep10, {});
    // A manifest left invalid: its data object truncated behind its back.
    const broken = await runSnapshot(keep10, {});
    await aws.s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: dataKey(own.store.layout, broken.id),
        Body: Buffer.alloc(10),
      }),
    );
    // A leftover data object of an upload that never completed, long ago.
    const stale = "20200101T000000000Z-0badf00d";
    await aws.s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: dataKey(own.store.layout, stale), Body: "x" }),
    );
    await runSnapshot(own, {});
    await runSnapshot(own, {});
    // Its object landed just now; a grace of 0 lets this run treat it as old.
    const s = await runSnapshot({ ...own, orphanGraceMs: 0 }, {});
    const listed = await own.store.list();
    const valid = listed
      .filter((o) => !validity(own.store.layout, o))
      .map((o) => o.id)
      .sort();
    expect(valid).toHaveLength(3);
    expect(valid[2]).toBe(s.id);
    expect(s.retention?.dropped.length).toBeGreaterThanOrEqual(1);
    const keys = (await aws.s3.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents!.map(
      (o) => o.Key,
    );
    expect(keys).not.toContain(dataKey(own.store.layout, stale));
    // The invalid manifest went too; only valid snapshots remain.
    expect(keys).not.toContain(manifestKey(own.store.layout, broken.id));
    expect(keys).toHaveLength(6);
    for (const id of valid) expect(keys).toContain(manifestKey(own.store.layout, id));
  }, 90_000);
});
