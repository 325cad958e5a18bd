// The local cluster end to end: the demo's steps against one cluster (3 main, 2 workers), and after
// every step `status(dir)` (what `status --json` prints) is checked against the independent sources:
// etcd's own member list (etcdctl), moto's Auto Scaling/EC2/Route 53 (the SDK, directly), and the node
// directories on disk (unit files, wants entries, the systemctl stand-in's state and pids).
import { UNIT_STATES_UNIT_NAME } from "../../../functions/domain/unitStates.ts";
import { execFile } from "node:child_process";
import { cpSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isDeepStrictEqual, promisify } from "node:util";
import { AutoScalingClient, DescribeAutoScalingGroupsCommand } from "@aws-sdk/client-auto-scaling";
import { DescribeInstancesCommand, EC2Client } from "@aws-sdk/client-ec2";
import {
  ChangeResourceRecordSetsCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
} from "@aws-sdk/client-route-53";
import { ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import {
  CloudFormationClient,
  DescribeStackResourcesCommand,
  DescribeStacksCommand,
} from "@aws-sdk/client-cloudformation";
import { GetFunctionConfigurationCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { Etcd3 } from "etcd3";
import { pkiParameterNames } from "../../../functions/adapters/aws/ssmClusterPki.ts";
import { NODE_PKI_DIR } from "../../../functions/domain/nodeTls.ts";
import { describeCertificate, issuedBy } from "../../../functions/domain/pki.ts";
import { describe, expect, it } from "vitest";
import { listeners, useLocalCluster } from "../../rig/localCluster.ts";
import { CATALOG_DIR, readCatalogDir } from "../../../functions/catalog/index.ts";
import { loadCatalog, metadataMatches } from "../../../functions/domain/units/index.ts";
import { PLACEMENT_KEY } from "../../../functions/domain/etcdKeys.ts";
import type { ReconcileReport } from "../../../functions/operations/reconcile.ts";
import { attach, down, kill, killAllMain, scale, status, up } from "../../../local/cluster/cluster.ts";
import type { ClusterStatus } from "../../../local/cluster/status.ts";
import { pollUntil } from "../../../functions/domain/poll.ts";
import { motoPidPath, statePath } from "../../../local/cluster/state.ts";
import { LOCAL_REGION, type AwsCredentials } from "../../../local/moto.ts";
import { roleCredentials as functionCredentials } from "../../../local/cluster/functions.ts";
import { nodeDir } from "../../../local/node.ts";
import { ETCDCTL_BIN, PROJECT_ROOT } from "../../../local/paths.ts";
import { livePidOf, pidAlive, processStartMs, readPidFile, waitUntil } from "../../../local/processes.ts";
import { FUNCTION_NAMES, type FunctionName } from "../../../cloudformation/options.ts";
import { expectedOnMoto, expectedOutputsOnMoto } from "../../rig/motoGaps.ts";

const run = promisify(execFile);
const KEYS = 100;
const key = (i: number) => `/e2e/key-${String(i).padStart(4, "0")}`;

const log: string[] = [];
const progress = (l: string) => log.push(l);
const lc = useLocalCluster({ name: "local-e2e", progress });

// ---------------------------------------------------------------------------------------------
// Independent sources

const aws = () => ({
  asg: new AutoScalingClient({
    endpoint: lc.state.motoEndpoint,
    region: LOCAL_REGION,
    credentials: lc.state.admin,
  }),
  ec2: new EC2Client({ endpoint: lc.state.motoEndpoint, region: LOCAL_REGION, credentials: lc.state.admin }),
  r53: new Route53Client({
    endpoint: lc.state.motoEndpoint,
    region: "us-east-1",
    credentials: lc.state.admin,
  }),
  s3: new S3Client({
    endpoint: lc.state.motoEndpoint,
    region: LOCAL_REGION,
    credentials: lc.state.admin,
    forcePathStyle: true,
  }),
  cfn: new CloudFormationClient({
    endpoint: lc.state.motoEndpoint,
    region: LOCAL_REGION,
    credentials: lc.state.admin,
  }),
  lambda: new LambdaClient({
    endpoint: lc.state.motoEndpoint,
    region: LOCAL_REGION,
    credentials: lc.state.admin,
  }),
});

interface MotoNode {
  id: string;
  role: string;
  address: string;
  zone: string;
  state: string;
}

/** The groups' instances, as moto's Auto Scaling and EC2 hold them. */
async function motoNodes(): Promise<MotoNode[]> {
  const { asg, ec2 } = aws();
  const roleOf = new Map(Object.entries(lc.state.groups).map(([role, name]) => [name, role]));
  const groups = (
    await asg.send(
      new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: Object.values(lc.state.groups) }),
    )
  ).AutoScalingGroups!;
  const members = groups.flatMap((g) =>
    (g.Instances ?? []).map((i) => ({ i, role: roleOf.get(g.AutoScalingGroupName!)! })),
  );
  const ips = new Map<string, string>();
  if (members.length) {
    const res = await ec2.send(
      new DescribeInstancesCommand({ InstanceIds: members.map((m) => m.i.InstanceId!) }),
    );
    for (const r of res.Reservations ?? [])
      for (const x of r.Instances ?? []) ips.set(x.InstanceId!, x.PrivateIpAddress ?? "");
  }
  return members
    .map(({ i, role }) => ({
      id: i.InstanceId!,
      role,
      address: ips.get(i.InstanceId!) ?? "",
      zone: i.AvailabilityZone!,
      state: i.LifecycleState!,
    }))
    .sort((a, b) => a.id.localeCompare(b.id));
}

async function route53Records(): Promise<{ name: string; type: string; values: string[] }[]> {
  const out: { name: string; type: string; values: string[] }[] = [];
  let start: { StartRecordName?: string; StartRecordType?: never } = {};
  for (;;) {
    const res = await aws().r53.send(
      new ListResourceRecordSetsCommand({ HostedZoneId: lc.state.zoneId, ...start }),
    );
    for (const r of res.ResourceRecordSets ?? []) {
      if (r.Type === "NS" || r.Type === "SOA") continue;
      out.push({
        name: r.Name!,
        type: r.Type!,
        values: (r.ResourceRecords ?? []).map((v) => v.Value!).sort(),
      });
    }
    if (!res.IsTruncated) break;
    start = { StartRecordName: res.NextRecordName, StartRecordType: res.NextRecordType as never };
  }
  return out.sort((a, b) => (a.name + a.type).localeCompare(b.name + b.type));
}

interface CtlMember {
  ID: string;
  name: string;
  peerURLs: string[];
  clientURLs?: string[];
  isLearner?: boolean;
}

async function etcdctl(endpoints: string[], ...args: string[]): Promise<string> {
  const { stdout } = await run(
    ETCDCTL_BIN,
    [`--endpoints=${endpoints.join(",")}`, "--dial-timeout=2s", "--command-timeout=3s", ...args],
    {
      env: { ...process.env, ETCDCTL_API: "3" },
    },
  );
  return stdout;
}

/** etcd's own member list (uint64 ids kept exact: JSON numbers would lose them). */
async function etcdctlMembers(endpoints: string[]): Promise<CtlMember[]> {
  const out = await etcdctl(endpoints, "member", "list", "-w", "json");
  return (JSON.parse(out.replace(/"ID":(\d+)/g, '"ID":"$1"')) as { members: CtlMember[] }).members;
}

/** A node's units read straight from its directory, as systemctl (the stand-in) would report them. */
function unitsFromDisk(id: string): { name: string; state: string; enabled: boolean; pid?: number }[] {
  const d = nodeDir(lc.dir, id);
  const unitDir = join(d, "etc/systemd/system");
  const wantsDir = join(unitDir, "multi-user.target.wants");
  const runDir = join(d, "run/systemd");
  const isUnit = (f: string) => /\.(service|timer|socket|path|target)$/.test(f);
  const files = existsSync(unitDir) ? readdirSync(unitDir).filter((f) => isUnit(f) && !f.includes("@.")) : [];
  const wanted = existsSync(wantsDir) ? readdirSync(wantsDir).filter(isUnit) : [];
  return [...new Set([...files, ...wanted])].sort().map((name) => {
    const pid = readPidFile(join(runDir, `${name}.pid`));
    let st: string;
    if (existsSync(join(runDir, `${name}.native`)))
      st = pid !== undefined && pidAlive(pid) ? "active" : "failed";
    else if (existsSync(join(runDir, `${name}.container`))) {
      // A container unit: active while its supervisor lives; failed once it gave up or died.
      const recorded = existsSync(join(runDir, `${name}.state`))
        ? readFileSync(join(runDir, `${name}.state`), "utf8").trim()
        : "inactive";
      st = pid !== undefined && pidAlive(pid) ? "active" : recorded === "inactive" ? "inactive" : "failed";
    } else
      st = existsSync(join(runDir, `${name}.state`))
        ? readFileSync(join(runDir, `${name}.state`), "utf8").trim()
        : "inactive";
    return { name, state: st, enabled: wanted.includes(name), pid };
  });
}

const catalog = loadCatalog(readCatalogDir());
const byId = <T extends { id: string }>(xs: T[]) => [...xs].sort((a, b) => a.id.localeCompare(b.id));
const endpointsOf = (ns: { role: string; address: string }[]) =>
  ns.filter((n) => n.role === "main").map((n) => `http://${n.address}:2379`);

/**
 * `status(lc.dir)` against every independent source. `etcdUp: false` after every member was killed.
 * Returns the status and etcd's member list for step-specific checks.
 */
async function verify(
  opts: { etcdUp?: boolean } = {},
): Promise<{ s: ClusterStatus; members: CtlMember[]; nodes: MotoNode[] }> {
  const etcdUp = opts.etcdUp ?? true;
  const s = await status(lc.dir);
  const nodes = await motoNodes();
  const domain = `${lc.state.domain}.`.toLowerCase();

  // Nodes: exactly moto's group members, each InService with its EC2 address, its machine up.
  expect(
    byId(s.nodes).map(({ id, role, address, zone, state: st }) => ({ id, role, address, zone, state: st })),
  ).toEqual(nodes);
  for (const n of s.nodes) {
    expect(n.state, n.id).toBe("InService");
    expect(n.up, n.id).toBe(true);
    expect(n.address.startsWith(`${lc.state.prefix}.`), n.address).toBe(true);
  }

  // etcd: what etcdctl says the members are.
  const mains = nodes.filter((n) => n.role === "main");
  let members: CtlMember[] = [];
  if (etcdUp) {
    members = await etcdctlMembers(endpointsOf(nodes));
    expect(s.etcd.reachable).toBe(true);
    expect(
      byId(s.etcd.members.map((m) => ({ id: m.id, name: m.name, peerUrl: m.peerUrl, learner: m.learner }))),
    ).toEqual(
      byId(
        members.map((m) => ({
          id: m.ID,
          name: m.name,
          peerUrl: m.peerURLs[0] ?? "",
          learner: Boolean(m.isLearner),
        })),
      ),
    );
    // One member per main node, named for its instance, on its address.
    expect(members.map((m) => m.name).sort()).toEqual(mains.map((n) => n.id).sort());
    for (const m of members)
      expect(m.peerURLs).toEqual([`http://${mains.find((n) => n.id === m.name)!.address}:2380`]);
    expect(s.etcd.members.every((m) => m.healthy)).toBe(true);
    expect(s.etcd.members.filter((m) => m.leader)).toHaveLength(1);
  } else {
    expect(s.etcd.reachable).toBe(false);
    expect(s.etcd.members).toEqual([]);
    await expect(etcdctlMembers(endpointsOf(nodes))).rejects.toThrow();
  }

  // DNS: what moto's Route 53 holds; an A record per node with its address, and nothing stale.
  // presence-dns keeps service names (<service>.<domain>) beside them on its own schedule, so the
  // control plane's records (node names, SRV) are compared exactly and service names by shape.
  const records = await route53Records();
  const nodeName = (r: { name: string }) => /^i-[0-9a-f]+\./.test(r.name);
  const controlPlane = (rs: typeof records) => rs.filter((r) => r.type !== "A" || nodeName(r));
  expect(controlPlane(s.dns)).toEqual(controlPlane(records));
  for (const r of records.filter((x) => x.type === "A" && !nodeName(x))) {
    expect(r.name, "a service name").toMatch(new RegExp(`^[a-z0-9-]+\\.${domain.replaceAll(".", "\\.")}$`));
    for (const v of r.values) expect(v.startsWith(`${lc.state.prefix}.`), `${r.name} -> ${v}`).toBe(true);
  }
  const a = records.filter((r) => r.type === "A" && nodeName(r));
  expect(a).toEqual(
    nodes
      .map((n) => ({ name: `${n.id}.${domain}`, type: "A", values: [n.address] }))
      .sort((x, y) => x.name.localeCompare(y.name)),
  );
  const srv = (n: string) =>
    records.find((r) => r.type === "SRV" && r.name === `${n}.${domain}`)?.values ?? [];
  if (etcdUp) {
    // The discovery records list exactly the current members (clients: voters only).
    const started = members.filter((m) => m.name);
    expect(srv("_etcd-server._tcp")).toEqual(started.map((m) => `0 0 2380 ${m.name}.${domain}`).sort());
    expect(srv("_etcd-client._tcp")).toEqual(
      started
        .filter((m) => !m.isLearner)
        .map((m) => `0 0 2379 ${m.name}.${domain}`)
        .sort(),
    );
  } else {
    // Nobody changes membership while every member is dead: the records still name the main nodes.
    expect(srv("_etcd-server._tcp")).toEqual(mains.map((n) => `0 0 2380 ${n.id}.${domain}`).sort());
  }
  expect(records.filter((r) => r.type !== "A" && r.type !== "SRV")).toEqual([]);

  // Node directories: the units status reports are the ones on disk, in the state systemctl gives.
  for (const n of s.nodes) {
    const disk = unitsFromDisk(n.id);
    expect(
      n.units.map(({ name, state: st }) => ({ name, state: st })),
      n.id,
    ).toEqual(disk.map(({ name, state: st }) => ({ name, state: st })));
    const has = (u: string) => disk.find((x) => x.name === u);
    if (n.role === "main") {
      const etcd = has("etcd-member.service");
      expect(etcd, `${n.id} etcd-member.service`).toBeDefined();
      expect(etcd!.enabled).toBe(true);
      expect(etcd!.state, `${n.id} etcd-member.service`).toBe(etcdUp ? "active" : "failed");
      expect(existsSync(join(nodeDir(lc.dir, n.id), "etc/etcd/etcd.env"))).toBe(true);
    } else {
      const amb = has("etcd-amb.service");
      expect(amb, `${n.id} etcd-amb.service`).toBeDefined();
      expect(amb!.enabled && amb!.state === "active", `${n.id} etcd-amb.service enabled and active`).toBe(
        true,
      );
      expect(has("etcd-member.service"), `${n.id} runs no etcd member`).toBeUndefined();
    }
    // Global units: on every node whose metadata matches, enabled.
    for (const u of catalog.units.filter((x) => x.global)) {
      const matches = metadataMatches(u.rules.metadata, { role: n.role, zone: n.zone });
      expect(Boolean(has(u.name)?.enabled), `${u.name} on ${n.role} ${n.id}`).toBe(matches);
    }
  }
  if (etcdUp) {
    // The placement the units function stored is what the node directories run.
    const stored = JSON.parse(
      await etcdctl(endpointsOf(nodes), "get", PLACEMENT_KEY, "--print-value-only"),
    ) as {
      placement: Record<string, string[]>;
    };
    const placed = Object.entries(stored.placement)
      .flatMap(([u, ids]) => ids.map((id) => `${id} ${u}`))
      .sort();
    const onDisk = s.nodes
      .flatMap((n) =>
        unitsFromDisk(n.id)
          // First boot's own enabled unit (the unit-state publisher) is no catalog unit.
          .filter((u) => u.enabled && u.name !== UNIT_STATES_UNIT_NAME)
          .map((u) => `${n.id} ${u.name}`),
      )
      .sort();
    expect(onDisk).toEqual(placed);
  }
  return { s, members, nodes };
}

async function client(): Promise<Etcd3> {
  return new Etcd3({ hosts: endpointsOf(await motoNodes()), dialTimeout: 2000 });
}

/** Every process a cluster directory knows of: node services (run/systemd/*.pid) and moto. */
/** The processes the cluster's pid files name that still run (not a later process reusing a number). */
function knownPids(d: string): number[] {
  const pids: (number | undefined)[] = [];
  const nodesDir = join(d, "nodes");
  for (const id of existsSync(nodesDir) ? readdirSync(nodesDir) : []) {
    const run = join(nodesDir, id, "run/systemd");
    for (const f of existsSync(run) ? readdirSync(run) : []) {
      if (f.endsWith(".pid")) pids.push(livePidOf(join(run, f)));
    }
  }
  pids.push(livePidOf(motoPidPath(d)));
  return pids.filter((p) => p !== undefined);
}

/** `npx devcluster ...` as a user runs it (the package's bin), with its exit code. */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run("npx", ["devcluster", ...args], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, DEVCLUSTER_LOG: "silent" },
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

/** What a push could change: every node's unit files (with content) and its recorded unit set. */
function nodeFiles(): Record<string, string> {
  const out: Record<string, string> = {};
  const nodesDir = join(lc.dir, "nodes");
  for (const id of readdirSync(nodesDir).sort()) {
    for (const sub of ["etc/systemd/system", "etc/devcluster/sidecars", "var/lib/devcluster/units"]) {
      const d = join(nodesDir, id, sub);
      if (!existsSync(d)) continue;
      for (const f of readdirSync(d, { recursive: true }) as string[]) {
        const p = join(d, f);
        out[`${id}/${sub}/${f}`] = statSync(p).isDirectory() ? "<dir>" : readFileSync(p, "utf8");
      }
    }
  }
  return out;
}

/** The stored placement and its mod revision, read by etcdctl. */
async function storedPlacement(): Promise<{ modRevision: string; value: string }> {
  const out = await etcdctl(endpointsOf(await motoNodes()), "get", PLACEMENT_KEY, "-w", "json");
  const kv = (JSON.parse(out) as { kvs: { mod_revision: number; value: string }[] }).kvs[0]!;
  return { modRevision: String(kv.mod_revision), value: Buffer.from(kv.value, "base64").toString("utf8") };
}

/** The runbook's new service: the sample image as a second web service on its own port. */
const GREET_UNIT = `[Unit]
Description=greet web service %i
After=docker.service
Requires=docker.service

[Service]
EnvironmentFile=-/etc/devcluster/node.env
ExecStartPre=-/usr/bin/docker rm -f %p-%i
ExecStart=/usr/bin/docker run --rm --name %p-%i --net host \\
    -e LISTEN_ADDRESS=\${PRIVATE_IP} -e PORT=8181 -e INSTANCE=%p@%i -e NODE_ID=\${INSTANCE_ID} \\
    {{image:hello}}
ExecStop=/usr/bin/docker stop %p-%i
Restart=always
RestartSec=5s

[Install]
WantedBy=multi-user.target

[X-Fleet]
MachineMetadata=role=worker

[X-Devcluster]
Instances=1
Sidecars=presence
Ports=http:8181
Http=http
HealthCheck=http:http/healthz
`;

// ---------------------------------------------------------------------------------------------

// One scenario: each test starts from the state the one before it left (kept in order under --sequence.shuffle).
describe("local cluster, step by step", { shuffle: false }, () => {
  it("up: 3 healthy voters, 2 workers; status matches etcd, Route 53 and the node directories", async () => {
    expect(lc.state.prefix).toBe(lc.block.prefix);
    expect(lc.state.motoEndpoint).toBe(`http://${lc.block.prefix}.0.1:5000`);
    const { s, members } = await verify();
    expect(s.nodes.map((n) => n.role).sort()).toEqual(["main", "main", "main", "worker", "worker"]);
    expect(members).toHaveLength(3);
    expect(members.every((m) => !m.isLearner)).toBe(true);
    // Every node got its etcd certificate at launch: from the cluster CA in SSM, for a key only it holds.
    const ssm = new SSMClient({
      endpoint: lc.state.motoEndpoint,
      region: LOCAL_REGION,
      credentials: lc.state.admin,
    });
    const stored = await ssm.send(
      new GetParameterCommand({ Name: pkiParameterNames(lc.state.clusterName).ca, WithDecryption: true }),
    );
    const ca = JSON.parse(stored.Parameter!.Value!) as { certPem: string };
    for (const n of s.nodes) {
      const pki = join(nodeDir(lc.dir, n.id), NODE_PKI_DIR);
      const crt = readFileSync(join(pki, "node.crt"), "utf8");
      expect(describeCertificate(crt).cn).toBe(n.id);
      expect(await issuedBy(crt, ca.certPem)).toBe(true);
      // The node script ends every PEM it writes with a newline.
      expect(readFileSync(join(pki, "ca.crt"), "utf8").trimEnd()).toBe(ca.certPem.trimEnd());
      expect(statSync(join(pki, "node.key")).mode & 0o077).toBe(0);
    }
  });

  it("the local cluster's stack is the packaged stack: same logical ids and outputs, functions with its environment and roles", async () => {
    const packaged = JSON.parse(
      readFileSync(
        join(
          PROJECT_ROOT,
          ".build",
          "local",
          "packages",
          lc.state.packageKey,
          "cloudformation-template-update-stack.json",
        ),
        "utf8",
      ),
    ) as {
      Resources: Record<string, { Type: string; Condition?: string }>;
      Outputs: Record<string, { Value?: unknown; Condition?: string }>;
    };
    const { cfn, lambda } = aws();
    const listed =
      (await cfn.send(new DescribeStackResourcesCommand({ StackName: lc.state.stackName }))).StackResources ??
      [];
    expect(
      listed
        .filter((r) => r.LogicalResourceId)
        .map((r) => r.LogicalResourceId)
        .sort(),
    ).toEqual(expectedOnMoto(packaged.Resources));
    const stack = (await cfn.send(new DescribeStacksCommand({ StackName: lc.state.stackName }))).Stacks![0]!;
    const outputs = Object.fromEntries((stack.Outputs ?? []).map((o) => [o.OutputKey!, o.OutputValue!]));
    expect(Object.keys(outputs).sort()).toEqual(expectedOutputsOnMoto(packaged));
    expect(lc.state.bucket).toBe(outputs.SnapshotBucketName);
    expect(lc.state.groups).toEqual({
      main: outputs.MainGroupName,
      worker: outputs.WorkerGroupName,
      data: outputs.DataGroupName,
    });
    // The handlers run with what each deployed function was given, read back from moto.
    for (const fn of FUNCTION_NAMES) {
      const c = await lambda.send(
        new GetFunctionConfigurationCommand({ FunctionName: lc.state.functions[fn]!.name }),
      );
      const { NODE_OPTIONS: _lambdaOnly, ...vars } = c.Environment?.Variables ?? {};
      for (const [k, v] of Object.entries(vars))
        expect(lc.state.functionEnv[k], `${fn} ${k}`).toBe(String(v));
      expect(c.Role).toBe(outputs[`${fn[0]!.toUpperCase()}${fn.slice(1)}FunctionRoleArn`]);
      expect(lc.state.functions[fn]!.role).toBe(c.Role);
    }
    expect(lc.state.functionEnv).toMatchObject({
      CLUSTER_NAME: lc.state.clusterName,
      CLUSTER_DOMAIN: lc.state.domain,
      SNAPSHOT_BUCKET: lc.state.bucket,
      GROUP_MAIN: lc.state.groups.main,
      AUTO_RESTORE: expect.any(String),
      RETAIN_LAST: expect.any(String),
    });
  });

  it("IAM: moto enforces it; each function and the nodes hold their own role's credentials, and a role's policy holds", async () => {
    const state = lc.state;
    expect(state.iam).toBe(true);
    const stsAs = (credentials: AwsCredentials) =>
      new STSClient({ endpoint: state.motoEndpoint, region: LOCAL_REGION, credentials });
    for (const fn of FUNCTION_NAMES) {
      const who = await stsAs(functionCredentials(state, fn)).send(new GetCallerIdentityCommand({}));
      // arn:aws:sts::<account>:assumed-role/<the deployed function's role>/<session>
      expect(who.Arn!.split("/")[1], fn).toBe(state.functions[fn]!.role.split("/").pop());
    }
    const node = await stsAs(functionCredentials(state, "node")).send(new GetCallerIdentityCommand({}));
    expect(node.Arn).toContain(":assumed-role/");
    const s3As = (fn: FunctionName) =>
      new S3Client({
        endpoint: state.motoEndpoint,
        region: LOCAL_REGION,
        credentials: functionCredentials(state, fn),
        forcePathStyle: true,
        maxAttempts: 1,
      });
    const outcome = (p: Promise<unknown>) =>
      p.then(
        () => "allowed",
        (e: { name?: string }) => e.name,
      );
    const list = (fn: FunctionName) =>
      outcome(
        s3As(fn).send(
          new ListObjectsV2Command({ Bucket: state.bucket, Prefix: `etcd-snapshots/${state.clusterName}/` }),
        ),
      );
    // lifecycle reads the snapshot history (formedBefore); units has no business in the bucket.
    expect(await list("lifecycle")).toBe("allowed");
    expect(await list("units")).toBe("AccessDenied");
    // restore may read snapshots but never write them.
    const write = await outcome(
      s3As("restore").send(
        new PutObjectCommand({
          Bucket: state.bucket,
          Key: `etcd-snapshots/${state.clusterName}/manifests/forged.json`,
          Body: "{}",
        }),
      ),
    );
    expect(write).toBe("AccessDenied");
  });

  it("invoke: a function called with a payload from the CLI, as sls invoke -f calls it on AWS", async () => {
    const { stdout } = await run(
      "npx",
      [
        "tsx",
        join(PROJECT_ROOT, "bin", "devcluster.ts"),
        "local",
        "invoke",
        "units",
        "--data",
        JSON.stringify({ dryRun: true }),
        "--dir",
        lc.dir,
      ],
      { cwd: PROJECT_ROOT, env: { ...process.env, DEVCLUSTER_LOG: "silent" } },
    );
    const report = JSON.parse(stdout) as { dryRun: boolean; nodes: number; pushed: unknown[] };
    expect(report.dryRun).toBe(true);
    expect(report.nodes).toBe(5);
    await expect(
      run(
        "npx",
        [
          "tsx",
          join(PROJECT_ROOT, "bin", "devcluster.ts"),
          "local",
          "invoke",
          "units",
          "--data",
          "{not json",
          "--dir",
          lc.dir,
        ],
        {
          cwd: PROJECT_ROOT,
          env: { ...process.env, DEVCLUSTER_LOG: "silent" },
        },
      ),
    ).rejects.toThrow(/--data must be JSON/);
  }, 60_000);

  it('docs/OPERATIONS.md "Adding a service", step by step: a unit file, validate, units --dry-run, units, status', async () => {
    interface Report {
      dryRun: boolean;
      saved: boolean;
      failed: string[];
      moves: { unit: string; from: string[]; to: string[] }[];
      pushed: { nodeId: string; start: string[]; stop: string[]; changed: string[] }[];
    }
    // 1. Add the unit file (to a copy of the catalog: the repository's stays as it is).
    const catalogDir = join(lc.base, "catalog");
    cpSync(CATALOG_DIR, catalogDir, { recursive: true, filter: (f) => !f.endsWith(".ts") });
    writeFileSync(join(catalogDir, "greet@.service"), GREET_UNIT);

    // 2. Validate: the runbook's unit tests pass with the new unit in the catalog.
    const tests = await run("npx", ["vitest", "run", "test/unit/domain/units"], {
      cwd: PROJECT_ROOT,
      // A run of its own, not a worker of this one.
      env: {
        ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("VITEST"))),
        UNITS_CATALOG_DIR: catalogDir,
        NO_COLOR: "1",
      },
    });
    expect(tests.stdout).toMatch(/Test Files\s+\d+ passed/);
    expect(tests.stdout).not.toMatch(/failed/);
    expect(loadCatalog(readCatalogDir(catalogDir)).byName.has("greet@1.service")).toBe(true);

    // 3a. units --dry-run: the placement diff, and nothing changed in etcd or on the nodes.
    const placementBefore = await storedPlacement();
    const filesBefore = nodeFiles();
    const text = await cli("local", "units", "--dry-run", "--catalog", catalogDir, "--dir", lc.dir);
    expect(text.code, text.stderr).toBe(0);
    const dry = await cli("local", "units", "--dry-run", "--catalog", catalogDir, "--json", "--dir", lc.dir);
    expect(dry.code, dry.stderr).toBe(0);
    const plan = JSON.parse(dry.stdout) as Report;
    expect(plan.dryRun).toBe(true);
    const workers = (await motoNodes()).filter((n) => n.role === "worker").map((n) => n.id);
    const greet = plan.moves.find((m) => m.unit === "greet@1.service")!;
    expect(greet.from).toEqual([]);
    expect(greet.to).toHaveLength(1);
    expect(workers).toContain(greet.to[0]);
    expect(plan.moves.find((m) => m.unit === "presence@greet@1.service")!.to).toEqual(greet.to);
    // Nothing else moves, and only the chosen worker is pushed: it starts the unit and its sidecar.
    expect(plan.moves.map((m) => m.unit).sort()).toEqual(["greet@1.service", "presence@greet@1.service"]);
    expect(plan.pushed).toEqual([
      {
        nodeId: greet.to[0],
        reasons: ["placement", "content"],
        units: expect.arrayContaining(["greet@1.service", "presence@greet@1.service"]),
        start: ["greet@1.service", "presence@greet@1.service"],
        stop: [],
        changed: ["greet@.service"],
      },
    ]);
    expect(text.stdout).toContain(`+ greet@1.service -> ${greet.to[0]}`);
    expect(text.stdout).toMatch(/dry run: nothing was pushed or stored/);
    expect(text.stdout).toContain(
      `${greet.to[0]} (placement, content): start greet@1.service, presence@greet@1.service`,
    );
    expect(await storedPlacement()).toEqual(placementBefore);
    expect(nodeFiles()).toEqual(filesBefore);
    expect(Object.keys(filesBefore).some((f) => f.includes("greet"))).toBe(false);

    // 3b. units: pushed through the units function, the placement stored.
    const pushed = await cli("local", "units", "--catalog", catalogDir, "--json", "--dir", lc.dir);
    expect(pushed.code, pushed.stderr).toBe(0);
    const report = JSON.parse(pushed.stdout) as Report;
    expect(report).toMatchObject({ dryRun: false, saved: true, failed: [] });
    expect(report.pushed.map((p) => p.nodeId)).toEqual(greet.to);
    expect(JSON.parse((await storedPlacement()).value).placement["greet@1.service"]).toEqual(greet.to);

    // 3c. status: the unit runs on its node, and presence announces its service.
    await waitUntil(
      "greet@1.service active and announced",
      async () => {
        const s = await status(lc.dir);
        const node = s.nodes.find((n) => n.id === greet.to[0])!;
        const unit = (u: string) => node.units.find((x) => x.name === u)?.state;
        return (
          unit("greet@1.service") === "active" &&
          unit("presence@greet@1.service") === "active" &&
          Boolean(s.services.find((x) => x.name === "greet")?.instances.some((i) => i.node === greet.to[0]))
        );
      },
      90_000,
      1000,
    );
    const cliStatus = await cli("local", "status", "--dir", lc.dir);
    expect(cliStatus.stdout).toMatch(/greet@1\.service/);
    await verify();

    // The repository's catalog again: the dry run says what leaves, the push stops it.
    const back = await cli("local", "units", "--dry-run", "--json", "--dir", lc.dir);
    const undo = JSON.parse(back.stdout) as Report;
    expect(undo.moves.find((m) => m.unit === "greet@1.service")).toEqual({
      unit: "greet@1.service",
      from: greet.to,
      to: [],
    });
    expect(undo.pushed.find((p) => p.nodeId === greet.to[0])!.stop).toEqual([
      "greet@1.service",
      "presence@greet@1.service",
    ]);
    expect((await cli("local", "units", "--dir", lc.dir)).code).toBe(0);
    const { s } = await verify();
    expect(s.nodes.flatMap((n) => n.units.map((u) => u.name)).filter((u) => u.includes("greet"))).toEqual([]);
  }, 300_000);

  it("reconcile with an invalid catalog: reports what it repaired before the failure and the failure (coded), logs it, exits 1", async () => {
    // Drift to repair first: a worker's A record gone from the zone.
    const worker = (await motoNodes()).find((n) => n.role === "worker")!;
    const name = `${worker.id}.${lc.state.domain}.`.toLowerCase();
    const { r53 } = aws();
    const listed = await r53.send(
      new ListResourceRecordSetsCommand({
        HostedZoneId: lc.state.zoneId,
        StartRecordName: name,
        StartRecordType: "A",
      }),
    );
    const record = listed.ResourceRecordSets!.find((r) => r.Name === name && r.Type === "A")!;
    await r53.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: lc.state.zoneId,
        ChangeBatch: { Changes: [{ Action: "DELETE", ResourceRecordSet: record }] },
      }),
    );
    // The catalog the handlers read (UNITS_CATALOG_DIR, as a packaged copy would be) has a bad file.
    const broken = join(lc.base, "broken-catalog");
    cpSync(CATALOG_DIR, broken, { recursive: true, filter: (f) => !f.endsWith(".ts") });
    writeFileSync(
      join(broken, "oops.service"),
      "[Unit]\nDescription=oops\n[Service]\nExecStart=/bin/oops %z\n",
    );
    const logFile = join(lc.dir, "functions.log");
    const logged = existsSync(logFile) ? readFileSync(logFile, "utf8").length : 0;
    const res = await run("npx", ["devcluster", "local", "reconcile", "--dir", lc.dir], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, DEVCLUSTER_LOG: "", UNITS_CATALOG_DIR: broken },
    }).then(
      (r) => ({ code: 0, stdout: r.stdout }),
      (e: { code: number; stdout: string }) => e,
    );
    expect(res.code).toBe(1);
    const report = JSON.parse(res.stdout) as {
      repairs: { code: string; detail?: string }[];
      failed: { code: string; detail?: string }[];
    };
    expect(report.repairs).toContainEqual({ code: "RC_DNS_SYNCED", detail: "1" });
    expect(report.failed).toEqual([
      {
        code: "RC_UNITS_PUSHED",
        detail:
          "invalid unit catalog: oops.service:4: unknown specifier %z in ExecStart= (write %% for a literal %)",
      },
    ]);
    const lines = readFileSync(logFile, "utf8")
      .slice(logged)
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { level: string; msg: string; step?: string; failed?: unknown });
    expect(lines).toContainEqual(
      expect.objectContaining({ level: "error", msg: "reconcile: step failed", step: "RC_UNITS_PUSHED" }),
    );
    expect(lines.find((l) => l.msg === "reconcile done")?.failed).toEqual(report.failed);
    // The record is back; the nodes' units are as they were.
    await verify();
  }, 120_000);

  it("writes keys", async () => {
    const c = await client();
    try {
      await Promise.all(Array.from({ length: KEYS }, (_, i) => c.put(key(i)).value(`value-${i}`)));
      expect(Object.keys(await c.getAll().prefix("/e2e/").strings())).toHaveLength(KEYS);
    } finally {
      c.close();
    }
    await verify();
  });

  it("scales workers 2 → 4 → 1", async () => {
    await scale(lc.dir, "worker", 4, progress);
    let { s } = await verify();
    expect(s.nodes.filter((n) => n.role === "worker")).toHaveLength(4);
    const before = new Set(s.nodes.map((n) => n.id));
    await scale(lc.dir, "worker", 1, progress);
    // The database's volume stays attached to a worker that left until EC2 has terminated it; the
    // next reconcile then moves the unit and its volume (ARCHITECTURE decision 54). Run it as the
    // schedule would, until the database runs again (at once when it was not on a leaving worker).
    const { fns } = await attach(lc.dir);
    const dbActive = (x: ClusterStatus) =>
      x.nodes.some((n) => n.units.some((u) => u.name === "postgres@1.service" && u.state === "active"));
    const moved = await pollUntil(
      async () => {
        await fns.reconcile();
        return dbActive(await status(lc.dir)) || undefined;
      },
      { timeoutMs: 90_000, intervalMs: 2_000 },
    );
    expect(moved, "postgres@1 active on the remaining worker").toBe(true);
    ({ s } = await verify());
    const workers = s.nodes.filter((n) => n.role === "worker");
    expect(workers).toHaveLength(1);
    expect(before.has(workers[0]!.id)).toBe(true);
  }, 180_000);

  it("scales data 0 → 1: the data node runs etcd-amb.service", async () => {
    await scale(lc.dir, "data", 1, progress);
    const { s } = await verify();
    expect(s.nodes.filter((n) => n.role === "data")).toHaveLength(1);
  }, 120_000);

  it("kill <worker-id>: the group replaces the node", async () => {
    const old = (await status(lc.dir)).nodes.find((n) => n.role === "worker")!;
    await kill(lc.dir, old.id, progress);
    const { s } = await verify();
    const workers = s.nodes.filter((n) => n.role === "worker");
    expect(workers).toHaveLength(1);
    expect(workers[0]!.id).not.toBe(old.id);
  }, 120_000);

  it("kill <main-id>: the replacement's launch restores fault tolerance, no reconcile", async () => {
    const before = await status(lc.dir);
    const old = before.nodes.find(
      (n) => n.role === "main" && !before.etcd.members.find((m) => m.name === n.id)?.leader,
    )!;
    const t0 = Date.now();
    await kill(lc.dir, old.id, progress);
    // Right after the launch (no reconcile has run): three healthy voters again, the replacement among them.
    const { members, nodes, s } = await verify();
    const mains = nodes.filter((n) => n.role === "main");
    expect(mains.map((n) => n.id)).not.toContain(old.id);
    expect(members.map((m) => [m.name, Boolean(m.isLearner)]).sort()).toEqual(
      mains.map((n) => [n.id, false]).sort(),
    );
    expect(s.etcd.members.filter((m) => m.healthy && !m.learner)).toHaveLength(3);
    console.log(`kill -> 3 healthy voters: ${Date.now() - t0} ms`);
  }, 120_000);

  it("snapshot: a valid snapshot in S3, listed by status", async () => {
    const { fns } = await attach(lc.dir);
    const snap = (await fns.snapshot()) as { id: string; dataKey: string; keyCount: number };
    expect(snap.keyCount).toBeGreaterThanOrEqual(KEYS);
    const { s } = await verify();
    expect(s.snapshots.map((x) => x.key)).toContain(snap.id);
    const objects = await aws().s3.send(
      new ListObjectsV2Command({ Bucket: lc.state.bucket, Prefix: snap.dataKey }),
    );
    expect(objects.Contents?.map((o) => o.Key)).toEqual([snap.dataKey]);
  }, 30_000);

  it("kill --all-main: no member answers; status says every etcd-member.service failed", async () => {
    await killAllMain(lc.dir, progress);
    await verify({ etcdUp: false });
    // status exits 1 on an unhealthy cluster, and --json says why.
    const res = await run("npx", ["devcluster", "local", "status", "--json", "--dir", lc.dir], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, DEVCLUSTER_LOG: "silent" },
    }).then(
      () => ({ code: 0, stdout: "" }),
      (e: { code: number; stdout: string }) => e,
    );
    expect(res.code).toBe(1);
    const body = JSON.parse(res.stdout) as { healthy: boolean; problems: string[] };
    expect(body.healthy).toBe(false);
    expect(body.problems).toContain("no etcd member answers");
  }, 30_000);

  it("reconcile after total loss: no empty cluster is bootstrapped; with AUTO_RESTORE off it raises the alarm", async () => {
    const { fns } = await attach(lc.dir);
    // The production wiring: the snapshot on record (S3) marks the cluster as lost, not new.
    const report = (await fns.reconcile()) as ReconcileReport;
    // The remedy is in the report, the local one included.
    expect(report.blocked).toContainEqual({
      code: "RC_TOTAL_LOSS",
      detail: expect.stringMatching(
        /^alarm \(AUTO_RESTORE is off; sls invoke -f restore .*on a local cluster: npx devcluster local restore latest/,
      ),
    });
    expect(report.repairs.filter((r) => r.code === "RC_BOOTSTRAPPED")).toEqual([]);
    await verify({ etcdUp: false });
  }, 60_000);

  it("restore latest: a healthy cluster with every key back", async () => {
    const { fns } = await attach(lc.dir);
    await fns.restore({ snapshot: "latest", confirm: lc.state.clusterName });
    const { members } = await verify();
    expect(members).toHaveLength(3);
    expect(members.every((m) => !m.isLearner)).toBe(true);
    const c = await client();
    try {
      const got = await c.getAll().prefix("/e2e/").strings();
      expect(Object.keys(got)).toHaveLength(KEYS);
      for (let i = 0; i < KEYS; i++) expect(got[key(i)]).toBe(`value-${i}`);
    } finally {
      c.close();
    }
  }, 60_000);

  it("restore through the CLI while the cluster serves is refused in the CLI's terms (--force), and changes nothing", async () => {
    const before = await etcdctlMembers(endpointsOf(await motoNodes()));
    const r = await cli("local", "restore", "latest", "--dir", lc.dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /a healthy etcd cluster is still serving at .*restore only after total loss, or pass --force; nothing was changed/,
    );
    expect(r.stderr).not.toMatch(/"force"/);
    expect(await etcdctlMembers(endpointsOf(await motoNodes()))).toEqual(before);
  }, 60_000);

  it("status --json from the CLI (a child process) equals status(lc.dir)", async () => {
    const printStatus = async () =>
      (
        await run("npx", ["tsx", "bin/devcluster.ts", "local", "status", "--json", "--dir", lc.dir], {
          cwd: PROJECT_ROOT,
          env: { ...process.env, DEVCLUSTER_LOG: "silent" },
        })
      ).stdout;
    const normalise = (s: ClusterStatus) => ({
      ...s,
      // podman's status line ("Up 3 seconds ago") moves between the two reads; its state does not.
      nodes: byId(s.nodes).map((n) => ({
        ...n,
        units: [...n.units].sort((a, b) => a.name.localeCompare(b.name)),
        containers: n.containers.map(({ status: _moving, ...c }) => c),
      })),
      etcd: { ...s.etcd, members: byId(s.etcd.members) },
      dns: [...s.dns]
        .sort((a, b) => (a.name + a.type).localeCompare(b.name + b.type))
        .map((r) => ({ ...r, values: [...r.values].sort() })),
      snapshots: [...s.snapshots].sort((a, b) => a.key.localeCompare(b.key)),
      // Each instance is checked when status runs: two reads may see a starting one differently.
      services: s.services.map((x) => ({ ...x, instances: x.instances.map(({ healthy: _now, ...i }) => i) })),
    });
    // The cluster may still be converging (a service's DNS record lands when its presence is
    // first seen): compare only a print taken while status(dir) read the same before and after it.
    for (let attempt = 1; ; attempt++) {
      const before = normalise(await status(lc.dir));
      const stdout = await printStatus();
      const after = normalise(await status(lc.dir));
      if (!isDeepStrictEqual(before, after) && attempt < 5) continue;
      expect(after, "the cluster never held still for one CLI run").toEqual(before);
      // --json adds the verdict the exit code follows; the rest is status(dir).
      const { healthy, problems, ...printed } = JSON.parse(stdout) as ClusterStatus & {
        healthy: boolean;
        problems: string[];
      };
      expect({ healthy, problems }).toEqual({ healthy: true, problems: [] });
      expect(normalise(printed)).toEqual(after);
      return;
    }
  }, 180_000);

  it("up while one runs is refused with a clear error and changes nothing", async () => {
    const stateBefore = readFileSync(statePath(lc.dir), "utf8");
    const motoBefore = readPidFile(motoPidPath(lc.dir));
    const nodesBefore = readdirSync(join(lc.dir, "nodes")).sort();
    const groupsBefore = await motoNodes();
    await expect(
      up(lc.dir, { main: 3, workers: 2, data: 0, prefix: lc.block.prefix }, progress),
    ).rejects.toThrow(/a local cluster already runs.*'npx devcluster local down' stops it/);
    // Another --dir on the same /16 is refused too (its moto would answer in place of the new one).
    const other = join(lc.base, "other");
    await expect(
      up(other, { main: 3, workers: 0, data: 0, prefix: lc.block.prefix }, progress),
    ).rejects.toThrow(/in use.*--prefix/);
    expect(existsSync(other)).toBe(false);
    expect(readFileSync(statePath(lc.dir), "utf8")).toBe(stateBefore);
    expect(readPidFile(motoPidPath(lc.dir))).toBe(motoBefore);
    expect(pidAlive(motoBefore!)).toBe(true);
    expect(readdirSync(join(lc.dir, "nodes")).sort()).toEqual(nodesBefore);
    expect(await motoNodes()).toEqual(groupsBefore);
  });

  it("down leaves no process and no listening port on the cluster's /16", async () => {
    const pids = knownPids(lc.dir);
    expect(pids.length).toBeGreaterThanOrEqual(4); // moto and 3 etcd members at least
    expect((await listeners(lc.block.prefix)).length).toBeGreaterThanOrEqual(4);
    // A process is the same one only with the same start time: pids wrap within seconds here, and a
    // number a stopped unit left may be another process's by the time down returns.
    const started = new Map(pids.map((p) => [p, processStartMs(p)]));
    await down(lc.dir, progress);
    expect(pids.filter((p) => pidAlive(p) && processStartMs(p) === started.get(p))).toEqual([]);
    expect(await listeners(lc.block.prefix)).toEqual([]);
  }, 30_000);

  it("status when none runs fails clearly", async () => {
    await expect(status(lc.dir)).rejects.toThrow(/no local cluster runs.*'npx devcluster local up'/);
    await expect(
      run("npx", ["tsx", "bin/devcluster.ts", "local", "status", "--json", "--dir", lc.dir], {
        cwd: PROJECT_ROOT,
      }),
    ).rejects.toMatchObject({
      code: expect.any(Number),
      stderr: expect.stringMatching(/no local cluster runs/),
    });
  }, 30_000);

  it("down after a crash (moto SIGKILLed, etcd members left running) still cleans up", async () => {
    // The same settings as the first up: its package is reused from the cache.
    await up(lc.dir, { main: 3, workers: 2, data: 0, prefix: lc.block.prefix }, progress);
    const moto = readPidFile(motoPidPath(lc.dir))!;
    // The members, and the main nodes' container units' supervisors (presence-dns).
    const etcd = knownPids(lc.dir).filter((p) => p !== moto);
    expect(etcd.length).toBeGreaterThanOrEqual(3);
    process.kill(moto, "SIGKILL");
    // A SIGKILLed process can take a moment to go on a heavily loaded machine.
    await waitUntil("moto to exit after SIGKILL", async () => !pidAlive(moto), 10_000, 100);
    expect(etcd.every(pidAlive)).toBe(true);
    // status says what it found: moto gone, the etcd members still running, and what to do.
    await expect(status(lc.dir)).rejects.toThrow(
      new RegExp(
        `moto \\(pid ${moto}\\) is not running, but node processes are: .*'npx devcluster local down' stops them`,
      ),
    );
    const lines: string[] = [];
    await down(lc.dir, (l) => lines.push(l));
    for (const pid of etcd)
      expect(lines.join("\n")).toMatch(new RegExp(`stopped i-[0-9a-f]+ \\(pid .*\\b${pid}\\b`));
    expect(lines).toContain(`moto (pid ${moto}) was not running`);
    expect(lines.join("\n")).not.toMatch(/stopped moto/);
    expect(etcd.filter(pidAlive)).toEqual([]);
    expect(await listeners(lc.block.prefix)).toEqual([]);
  }, 300_000);
});
