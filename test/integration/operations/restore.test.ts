// Restore after total loss, end to end: a real 3-member etcd cluster on local nodes (loopback addresses
// from moto's EC2), snapshots in moto's S3, node scripts run by the local command runner.
import { nodeKey } from "../../../functions/domain/etcdKeys.ts";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { GetMetricStatisticsCommand } from "@aws-sdk/client-cloudwatch";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAwsClients, type AwsClients } from "../../../functions/adapters/aws/clients.ts";
import { awsGroups } from "../../../functions/adapters/aws/groups.ts";
import { cloudwatchMetrics } from "../../../functions/adapters/aws/cloudwatchMetrics.ts";
import { createEtcdSnapshotApi } from "../../../functions/adapters/etcd/snapshots.ts";
import { createLocalCommands } from "../../../local/commands.ts";
import { s3SnapshotStore } from "../../../functions/adapters/aws/s3Snapshots.ts";
import { InvalidInputError, NotFoundError, RefusedError } from "../../../functions/domain/errors.ts";
import { createLogger } from "../../../functions/runtime/log.ts";
import { etcdClientUrl, type NodeRecord } from "../../../functions/domain/model.ts";
import { dataKey, manifestKey, type Manifest } from "../../../functions/domain/snapshots.ts";
import { nodeDir, nodePids, killLocalNode, stopNodeProcessesUnder } from "../../../local/node.ts";
import { recoverIfTotalLoss, restore, type RestoreDeps } from "../../../functions/operations/restore.ts";
import { layoutOf, takeSnapshot } from "../../../functions/operations/snapshot.ts";
import { useRig } from "../../rig/index.ts";
import { clientsAs, templateRoleStatements } from "../../rig/roles.ts";
import { RESTORE_CODES } from "../../../functions/domain/reportCodes.ts";
import {
  allKeys,
  createBucket,
  createMainGroup,
  loadKeys,
  loopbackSubnet,
  mainNodes,
  replaceAllInstances,
  startClusterOnNodes,
  testConfig,
} from "./snapshotCluster.ts";
import { prepareLocalNode, writeNodeAwsEnv } from "../../../local/node.ts";
import { awsEnvFor, type AwsCredentials } from "../../../local/moto.ts";

const rig = useRig({ moto: true });
afterAll(() => stopNodeProcessesUnder(rig.dir));

const CLUSTER = "restoretest";
let aws: AwsClients;
let root: string;
let deps: RestoreDeps & { commands: ReturnType<typeof createLocalCommands> };
let nodes: Awaited<ReturnType<typeof mainNodes>>;
let snapshotKeys: Map<string, string>;
let manifest: Manifest;
const hooks: unknown[] = [];
/** The nodes' role, as the template's node role grants it: the cluster's snapshot data only. */
let nodeRole: AwsCredentials;
const roles: Partial<Record<"restore" | "reconcile" | "snapshot", AwsClients>> = {};
/** The restore deps, with another function's clients: the operations reconcile and snapshot run. */
const as = (fn: "reconcile" | "snapshot") => ({
  ...deps,
  groups: awsGroups(roles[fn]!),
  store: s3SnapshotStore(roles[fn]!.s3, deps.store.bucket, deps.store.layout),
  metrics: cloudwatchMetrics(roles[fn]!.cloudwatch, deps.cfg.METRIC_NAMESPACE, CLUSTER),
});
const giveNodesRole = (ids: string[], creds: AwsCredentials) => {
  for (const id of ids) writeNodeAwsEnv(root, id, awsEnvFor(rig.moto!.endpoint, creds));
};

const endpointsOf = (ns: { privateIp: string }[]) => ns.map((n) => etcdClientUrl(n.privateIp));

/** SIGKILL every etcd member; the nodes themselves stay up (and keep their disks). */
async function killAllMembers(ns: { instanceId: string }[]) {
  const endpoints = endpointsOf(nodes.filter((n) => ns.some((x) => x.instanceId === n.instanceId)));
  for (const n of ns) {
    for (const pid of nodePids(nodeDir(root, n.instanceId))) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
  // Gone when no client port answers (a killed process may linger as a zombie a while).
  for (const e of endpoints) await expect.poll(() => deps.etcd.alive(e, 300), { timeout: 5000 }).toBe(false);
}

/** What a restore may change on a node: its var/lib entries and its etcd settings. */
function fingerprint(ns: { instanceId: string }[]) {
  return ns.map((n) => {
    const dir = nodeDir(root, n.instanceId);
    const env = join(dir, "etc/etcd/etcd.env");
    return {
      varLib: readdirSync(join(dir, "var/lib")).sort(),
      env: existsSync(env) ? readFileSync(env, "utf8") : null,
      wal: readdirSync(join(dir, "var/lib/etcd/member/wal")).sort(),
    };
  });
}

async function putCopy(from: Manifest, id: string, body: Buffer, over: Partial<Manifest> = {}) {
  const layout = deps.store.layout;
  const put = await aws.s3.send(
    new PutObjectCommand({ Bucket: deps.store.bucket, Key: dataKey(layout, id), Body: body }),
  );
  const m: Manifest = {
    ...from,
    id,
    dataKey: dataKey(layout, id),
    size: body.length,
    etag: put.ETag!,
    ...over,
  };
  await aws.s3.send(
    new PutObjectCommand({
      Bucket: deps.store.bucket,
      Key: manifestKey(layout, id),
      Body: JSON.stringify(m),
    }),
  );
  return m;
}

beforeAll(async () => {
  aws = createAwsClients();
  root = join(rig.dir, "cluster");
  const bucket = rig.unique("snaps");
  const group = rig.unique("main");
  await createBucket(aws, bucket);
  const subnetId = await loopbackSubnet(aws, rig.block.prefix, 64);
  nodes = await createMainGroup(aws, { name: group, cluster: CLUSTER, subnetId, size: 3 });
  await startClusterOnNodes(root, nodes, rig.unique("tok"));
  // Each operation runs as the role that runs it in production (the template's, resolved for this
  // test's bucket and group), and the nodes as the node role: a missing permission fails here.
  const resources = { bucket, cluster: CLUSTER, groups: { main: group } };
  nodeRole = await rig.roleCredentials(templateRoleStatements("node", resources));
  for (const fn of ["restore", "reconcile", "snapshot"] as const)
    roles[fn] = clientsAs(
      rig.moto!.endpoint,
      await rig.roleCredentials(templateRoleStatements(fn, resources)),
    );
  giveNodesRole(
    nodes.map((n) => n.instanceId),
    nodeRole,
  );
  await loadKeys(endpointsOf(nodes), "/data/", 3000, 300);
  const cfg = testConfig({ SNAPSHOT_BUCKET: bucket, GROUP_MAIN: group, CLUSTER_NAME: CLUSTER });
  deps = {
    cfg,
    log: createLogger({ test: "restore" }),
    groups: awsGroups(roles.restore!),
    etcd: createEtcdSnapshotApi(),
    store: s3SnapshotStore(roles.restore!.s3, bucket, layoutOf(cfg)),
    commands: createLocalCommands({ root }),
    metrics: cloudwatchMetrics(roles.restore!.cloudwatch, cfg.METRIC_NAMESPACE, CLUSTER),
    afterRestore: async (r) => {
      hooks.push(r);
    },
    quorumTimeoutMs: 30_000,
  };
  // A registry entry for every node, as lifecycle writes them, and one for a main node long gone.
  const registry = [
    ...nodes.map((n) => ({ ...n, role: "main" })),
    { instanceId: "i-gone", privateIp: "10.0.0.9", zone: "x", role: "main" },
  ];
  await deps.etcd.put(
    endpointsOf(nodes)[0]!,
    registry.map((n) => ({
      key: nodeKey(n.instanceId),
      value: JSON.stringify({
        instanceId: n.instanceId,
        role: n.role,
        group,
        zone: n.zone,
        privateIp: n.privateIp,
        state: "active",
        updatedAt: "x",
      }),
    })),
  );
  await takeSnapshot(as("snapshot"), { endpoints: endpointsOf(nodes) });
  snapshotKeys = await allKeys(endpointsOf(nodes));
  manifest = (await deps.store.list()).find((o) => o.manifest)!.manifest!;
  // Written after the snapshot: a restore must bring back the snapshot's state, without these.
  await loadKeys(endpointsOf(nodes), "/after/", 10);
}, 120_000);

// One scenario: each test starts from the state the one before it left (kept in order under --sequence.shuffle).
describe("restore", { shuffle: false }, () => {
  it("refuses malformed input and a wrong confirmation before touching anything", async () => {
    await expect(restore(deps, { snapshot: "latest" })).rejects.toBeInstanceOf(InvalidInputError);
    await expect(restore(deps, { confirm: CLUSTER, extra: 1 })).rejects.toBeInstanceOf(InvalidInputError);
    await expect(restore(deps, { snapshot: "latest", confirm: "prod" })).rejects.toThrow(RefusedError);
    await expect(
      restore(deps, { snapshot: "20990101T000000000Z-00000000", confirm: CLUSTER }),
    ).rejects.toBeInstanceOf(NotFoundError);
    expect(deps.commands.calls).toBe(0);
  });

  it("refuses while a healthy cluster still serves", async () => {
    await expect(restore(deps, { snapshot: "latest", confirm: CLUSTER })).rejects.toThrow(/still serving/);
    expect(deps.commands.calls).toBe(0);
    expect((await allKeys(endpointsOf(nodes))).size).toBe(snapshotKeys.size + 10);
  });

  it("after total loss, refuses a corrupted or truncated snapshot and changes nothing", async () => {
    await killAllMembers(nodes);
    const before = fingerprint(nodes);
    const good = await aws.s3.send(
      new GetObjectCommand({ Bucket: deps.store.bucket, Key: manifest.dataKey }),
    );
    const bytes = Buffer.from(await good.Body!.transformToByteArray());

    const flipped = Buffer.from(bytes);
    flipped[Math.floor(flipped.length / 2)]! ^= 0x01;
    const m1 = await putCopy(manifest, "20000101T000000000Z-0000f11b", flipped);
    await expect(restore(deps, { snapshot: m1.id, confirm: CLUSTER })).rejects.toThrow(/corrupt.*SHA-256/);

    // A truncated upload whose manifest was (wrongly) written for the truncated object: checksums catch it.
    const m2 = await putCopy(
      manifest,
      "20000101T000000000Z-0000c0de",
      bytes.subarray(0, bytes.length - 4096),
    );
    await expect(
      restore(deps, { snapshot: dataKey(deps.store.layout, m2.id), confirm: CLUSTER }),
    ).rejects.toThrow(/corrupt/);
    // A truncated object behind a manifest for the full one: not even valid.
    const m3 = await putCopy(manifest, "20000101T000000000Z-0000dead", bytes.subarray(0, 1000), {
      size: bytes.length,
    });
    await expect(restore(deps, { snapshot: m3.id, confirm: CLUSTER })).rejects.toThrow(
      /not valid.*size 1000/,
    );

    expect(deps.commands.calls).toBe(0);
    expect(fingerprint(nodes)).toEqual(before);
  });

  it("without AUTO_RESTORE, reconcile's total-loss check raises the alarm and says how to restore", async () => {
    const out = await recoverIfTotalLoss({ ...as("reconcile"), graceMs: 10 });
    expect(out).toMatchObject({ action: "alarm", how: expect.stringContaining(`"confirm":"${CLUSTER}"`) });
    const stats = await aws.cloudwatch.send(
      new GetMetricStatisticsCommand({
        Namespace: "Devcluster",
        MetricName: "RestoreNeeded",
        Dimensions: [{ Name: "Cluster", Value: CLUSTER }],
        StartTime: new Date(Date.now() - 3600_000),
        EndTime: new Date(Date.now() + 60_000),
        Period: 60,
        Statistics: ["Maximum"],
      }),
    );
    expect(stats.Datapoints?.some((d) => d.Maximum === 1)).toBe(true);
    expect(deps.commands.calls).toBe(0);
  });

  it("refuses, with etcd untouched, when the nodes' role cannot read the snapshot", async () => {
    const before = fingerprint(nodes);
    // A role that may read manifests but not data: what a node of another cluster, or a role
    // without the grant, holds.
    const other = await rig.roleCredentials([
      {
        Effect: "Allow",
        Action: ["s3:GetObject"],
        Resource: `arn:aws:s3:::${deps.store.bucket}/etcd-snapshots/${CLUSTER}/manifests/*`,
      },
    ]);
    giveNodesRole(
      nodes.map((n) => n.instanceId),
      other,
    );
    try {
      await expect(restore(deps, { snapshot: "latest", confirm: CLUSTER })).rejects.toThrow(
        /could not fetch the snapshot onto every node.*as this node's role.*etcd was not touched/s,
      );
    } finally {
      giveNodesRole(
        nodes.map((n) => n.instanceId),
        nodeRole,
      );
    }
    // The download directory may now exist (empty); etcd's data and settings are as they were.
    const withoutDownloads = (f: ReturnType<typeof fingerprint>) =>
      f.map((x) => ({ ...x, varLib: x.varLib.filter((d) => d !== "etcd-restore") }));
    expect(withoutDownloads(fingerprint(nodes))).toEqual(withoutDownloads(before));
    for (const n of nodes)
      expect(existsSync(join(nodeDir(root, n.instanceId), "var/lib/etcd-restore", `${manifest.id}.db`))).toBe(
        false,
      );
  });

  it("restores every key and value of the snapshot on the same nodes; old data dirs kept aside", async () => {
    // Every script the nodes get (SSM command parameters on AWS) is recorded: none may carry a secret.
    const scripts: string[] = [];
    const run = deps.commands.run.bind(deps.commands);
    deps.commands.run = (req) => {
      scripts.push(req.script);
      return run(req);
    };
    const s = await restore(deps, { snapshot: "latest", confirm: CLUSTER }).finally(() => {
      deps.commands.run = run;
    });
    expect(scripts.length).toBeGreaterThan(0);
    for (const script of scripts) {
      expect(script).not.toContain(nodeRole.secretAccessKey);
      expect(script).not.toContain(nodeRole.sessionToken!);
      expect(script).not.toMatch(/X-Amz-(Signature|Credential|Security-Token)=/);
    }
    expect(s.snapshot.id).toBe(manifest.id);
    expect(s.members.map((m) => m.instanceId).sort()).toEqual(nodes.map((n) => n.instanceId).sort());
    // Every step ran, in order, and is timed.
    expect(s.steps.map((x) => x.code)).toEqual(Object.keys(RESTORE_CODES));
    expect(s.steps.every((x) => x.ms >= 0)).toBe(true);
    for (const e of endpointsOf(nodes)) expect(await deps.etcd.healthy(e)).toBe(true);
    const members = await deps.etcd.members(endpointsOf(nodes)[0]!);
    expect(members.map((m) => m.name).sort()).toEqual(nodes.map((n) => n.instanceId).sort());
    expect(members.every((m) => !m.isLearner)).toBe(true);

    const got = await allKeys(endpointsOf(nodes));
    for (const [k, v] of snapshotKeys) if (!k.startsWith("/cluster/nodes/")) expect(got.get(k), k).toBe(v);
    expect([...got.keys()].some((k) => k.startsWith("/after/"))).toBe(false);

    for (const m of s.members) {
      expect(m.movedAside).toMatch(/\/var\/lib\/etcd\.before-restore-\d{8}T\d{6}Z$/);
      expect(statSync(join(m.movedAside!, "member/wal")).isDirectory()).toBe(true);
      const env = readFileSync(join(nodeDir(root, m.instanceId), "etc/etcd/etcd.env"), "utf8");
      expect(env).toContain(`ETCD_INITIAL_CLUSTER_TOKEN="${s.token}"`);
      expect(env).toContain('ETCD_INITIAL_CLUSTER_STATE="existing"');
    }
    const reg = JSON.parse(got.get(nodeKey("i-gone"))!) as NodeRecord;
    expect(reg.state).toBe("gone");
    expect(JSON.parse(got.get(nodeKey(nodes[0]!.instanceId))!)).toMatchObject({
      role: "main",
      state: "active",
    });
    expect(hooks).toHaveLength(1);
    // The restored cluster takes writes.
    await deps.etcd.put(endpointsOf(nodes)[1]!, [{ key: "/post-restore", value: "ok" }]);
  }, 90_000);

  it("restores onto a different set of nodes (replaced instances, new addresses)", async () => {
    for (const n of nodes) await killLocalNode(root, n.instanceId);
    const fresh = await replaceAllInstances(aws, deps.cfg.GROUP_MAIN);
    expect(fresh.map((n) => n.privateIp).some((ip) => nodes.some((o) => o.privateIp === ip))).toBe(false);
    for (const n of fresh) prepareLocalNode(root, n.instanceId, "main"); // first boot: units, no etcd yet
    giveNodesRole(
      fresh.map((n) => n.instanceId),
      nodeRole,
    );
    const s = await restore(deps, { snapshot: manifest.id, confirm: CLUSTER });
    expect(s.members.every((m) => m.movedAside === null)).toBe(true);
    const got = await allKeys(endpointsOf(fresh));
    for (const [k, v] of snapshotKeys) if (!k.startsWith("/cluster/nodes/")) expect(got.get(k), k).toBe(v);
    const members = await deps.etcd.members(endpointsOf(fresh)[0]!);
    expect(members.map((m) => m.peerUrls[0]).sort()).toEqual(
      fresh.map((n) => `http://${n.privateIp}:2380`).sort(),
    );
    for (const old of nodes)
      expect(JSON.parse(got.get(nodeKey(old.instanceId))!)).toMatchObject({ state: "gone" });
    nodes = fresh;
  }, 90_000);

  it("with AUTO_RESTORE, reconcile's total-loss check restores the newest valid snapshot", async () => {
    await killAllMembers(nodes);
    const out = await recoverIfTotalLoss({
      ...as("reconcile"),
      cfg: { ...deps.cfg, AUTO_RESTORE: true },
      graceMs: 10,
    });
    expect(out.action).toBe("restored");
    const got = await allKeys(endpointsOf(nodes));
    expect(got.get("/data/0002999")).toBe(snapshotKeys.get("/data/0002999"));
    // Alive members: nothing to do.
    expect(await recoverIfTotalLoss({ ...as("reconcile"), graceMs: 10 })).toMatchObject({ action: "none" });
  }, 90_000);
});
