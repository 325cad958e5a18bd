// Table-driven tests of the lifecycle planners: event schema, membership, DNS, reconcile.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseLifecycleEvent } from "../../../functions/domain/lifecycleEvent.ts";
import {
  joinInitialCluster,
  planBootstrap,
  planLaunchMain,
  planRemove,
  quorumAfter,
  type MainInstance,
} from "../../../functions/domain/membershipPlan.ts";
import {
  desiredNodeRecords,
  desiredSrvRecords,
  diffRecords,
  isNodeRecordName,
  type DnsRecord,
} from "../../../functions/domain/dnsPlan.ts";
import { actionable, planReconcile, type ObservedGroup } from "../../../functions/domain/reconcilePlan.ts";
import { etcdStartScript } from "../../../functions/domain/etcdStartScript.ts";
import { InvalidInputError } from "../../../functions/domain/errors.ts";
import type { EtcdMember, NodeRecord } from "../../../functions/domain/model.ts";

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../fixtures/events/${name}`, import.meta.url), "utf8")) as Record<
    string,
    unknown
  >;

const id = (n: number) => `i-${String(n).padStart(17, "0")}`;
const ip = (n: number) => `127.9.9.${n}`;
const member = (n: number, o: Partial<EtcdMember> = {}): EtcdMember => ({
  id: String(1000 + n),
  name: id(n),
  peerUrls: [`http://${ip(n)}:2380`],
  clientUrls: [`http://${ip(n)}:2379`],
  isLearner: false,
  ...o,
});
const inst = (n: number, state = "InService"): MainInstance => ({
  instanceId: id(n),
  ip: ip(n),
  lifecycleState: state,
});
const healthyOf = (...ns: number[]) => new Set(ns.map((n) => String(1000 + n)));

describe("lifecycle event schema", () => {
  it("accepts AWS's documented launch and terminate examples", () => {
    const l = parseLifecycleEvent(fixture("lifecycle-launch.json"));
    expect(l).toMatchObject({
      kind: "launch",
      instanceId: "i-1234567890abcdef0",
      groupName: "my-asg",
      hookName: "my-lifecycle-hook",
      warmPool: false,
    });
    expect(l.token).toBe("87654321-4321-4321-4321-210987654321");
    expect(parseLifecycleEvent(fixture("lifecycle-terminate.json")).kind).toBe("terminate");
  });
  const base = fixture("lifecycle-launch.json");
  const cases: [string, unknown][] = [
    ["not an object", "hello"],
    ["other source", { ...base, source: "aws.ec2" }],
    ["other detail-type", { ...base, "detail-type": "EC2 Instance Launch Successful" }],
    ["bad instance id", { ...base, detail: { ...(base.detail as object), EC2InstanceId: "x" } }],
    ["no group", { ...base, detail: { ...(base.detail as object), AutoScalingGroupName: undefined } }],
    [
      "transition mismatch",
      {
        ...base,
        detail: { ...(base.detail as object), LifecycleTransition: "autoscaling:EC2_INSTANCE_TERMINATING" },
      },
    ],
  ];
  it.each(cases)("rejects %s", (_n, ev) => {
    expect(() => parseLifecycleEvent(ev)).toThrow(InvalidInputError);
  });
  it("flags warm pool transitions", () => {
    expect(
      parseLifecycleEvent({ ...base, detail: { ...(base.detail as object), Destination: "WarmPool" } })
        .warmPool,
    ).toBe(true);
  });
});

describe("quorum", () => {
  const cases: [string, EtcdMember[], number[], string | undefined, boolean][] = [
    ["3 healthy, remove one", [member(1), member(2), member(3)], [1, 2, 3], "1001", true],
    ["3 with one dead, remove the dead", [member(1), member(2), member(3)], [1, 2], "1003", true],
    ["3 with one dead, remove a healthy", [member(1), member(2), member(3)], [1, 2], "1001", false],
    ["3 with two dead, remove a dead", [member(1), member(2), member(3)], [1], "1002", false],
    ["1 member, remove it", [member(1)], [1], "1001", false],
    ["2 healthy, remove one", [member(1), member(2)], [1, 2], "1001", true],
    ["5 with 2 dead, remove a healthy", [1, 2, 3, 4, 5].map((n) => member(n)), [1, 2, 3], "1001", false],
    ["5 with 2 dead, remove a dead", [1, 2, 3, 4, 5].map((n) => member(n)), [1, 2, 3], "1005", true],
    ["learners do not vote", [member(1), member(2), member(3, { isLearner: true })], [1, 2], "1002", true],
  ];
  it.each(cases)("%s", (_n, ms, h, rm, ok) => {
    expect(quorumAfter(ms, healthyOf(...h), rm).ok).toBe(ok);
  });
});

describe("planRemove", () => {
  it.each([
    ["not a member", [member(1), member(2), member(3)], [1, 2, 3], 9, "not-member"],
    ["healthy voter of 3", [member(1), member(2), member(3)], [1, 2, 3], 3, "remove"],
    ["learner, even without quorum", [member(1), member(2), member(3, { isLearner: true })], [], 3, "remove"],
    ["voter when the rest lack quorum", [member(1), member(2), member(3)], [3], 3, "refuse"],
    ["last voter", [member(1)], [1], 1, "refuse"],
    [
      "unstarted member by peer url",
      [member(1), member(2), member(3, { name: "", isLearner: true })],
      [1, 2],
      3,
      "remove",
    ],
  ] as const)("%s", (_n, ms, h, n, kind) => {
    expect(planRemove([...ms], healthyOf(...h), { instanceId: id(n), ip: ip(n) }).kind).toBe(kind);
  });
  const withLearner = [member(1), member(2), member(3), member(4, { isLearner: true })];
  it.each([
    ["healthy voter while a learner is pending, at desired", withLearner, [1, 2, 3, 4], 3, 3, "refuse"],
    ["dead voter while a learner is pending", withLearner, [1, 2, 4], 3, 3, "remove"],
    [
      "healthy voter while a learner is pending, above desired (scale-in)",
      [...withLearner, member(5)],
      [1, 2, 3, 4, 5],
      3,
      3,
      "remove",
    ],
    ["healthy voter, no learner pending", [member(1), member(2), member(3)], [1, 2, 3], 3, 3, "remove"],
    ["the pending learner itself", withLearner, [1, 2, 3, 4], 3, 4, "remove"],
    [
      "scale-in 5 to 3 with a learner pending",
      [1, 2, 3, 4, 5].map((n) => member(n)).concat(member(6, { isLearner: true })),
      [1, 2, 3, 4, 5, 6],
      3,
      5,
      "remove",
    ],
  ] as const)("%s", (_n, ms, h, desired, n, kind) => {
    const p = planRemove([...ms], healthyOf(...h), { instanceId: id(n), ip: ip(n) }, { desired });
    expect(p.kind).toBe(kind);
    if (p.kind === "refuse") expect(p.reason).toMatch(/learner is pending/);
  });
});

describe("planLaunchMain", () => {
  const main3 = { desired: 3, instances: [inst(1), inst(2), inst(3)] };
  it.each([
    [
      "no cluster, group launched: bootstrap",
      null,
      [],
      { desired: 3, instances: [inst(3, "Pending:Wait"), inst(1), inst(2)] },
      3,
      "bootstrap",
    ],
    [
      "no cluster, 2 of 3 launched",
      null,
      [],
      { desired: 3, instances: [inst(1), inst(2)] },
      1,
      "wait-bootstrap",
    ],
    [
      "no cluster, too many (replacing)",
      null,
      [],
      { desired: 3, instances: [inst(1), inst(2), inst(3), inst(4)] },
      1,
      "wait-bootstrap",
    ],
    ["no cluster, node not in the group", null, [], main3, 7, "wait-bootstrap"],
    ["healthy cluster: add learner", [member(1), member(2), member(3)], [1, 2, 3], main3, 4, "add-learner"],
    ["already a started member", [member(1), member(2), member(3)], [1, 2, 3], main3, 3, "already-member"],
    [
      "learner pending",
      [member(1), member(2), member(3), member(4, { isLearner: true })],
      [1, 2, 3],
      main3,
      5,
      "learner-pending",
    ],
    ["no quorum", [member(1), member(2), member(3)], [1], main3, 4, "refuse"],
    ["one dead of three: still adds", [member(1), member(2), member(3)], [1, 2], main3, 4, "add-learner"],
  ] as const)("%s", (_n, ms, h, main, n, kind) => {
    const p = planLaunchMain({
      node: { instanceId: id(n), ip: ip(n) },
      members: ms ? [...ms] : null,
      healthy: healthyOf(...h),
      main: { desired: main.desired, instances: [...main.instances] },
      clusterName: "c",
    });
    expect(p.kind).toBe(kind);
  });
  it("reports an added-but-unstarted member as not started", () => {
    const p = planLaunchMain({
      node: { instanceId: id(4), ip: ip(4) },
      members: [member(1), member(2), member(3), member(4, { name: "", isLearner: true })],
      healthy: healthyOf(1, 2, 3),
      main: main3,
      clusterName: "c",
    });
    expect(p).toMatchObject({ kind: "already-member", started: false });
  });
});

describe("planBootstrap", () => {
  it("is the same plan whatever the order the instances are seen in", () => {
    const a = planBootstrap({ desired: 3, instances: [inst(3), inst(1), inst(2)] }, "c");
    const b = planBootstrap({ desired: 3, instances: [inst(2), inst(3), inst(1)] }, "c");
    expect(a).toEqual(b);
    expect(a.kind === "bootstrap" && a.plan.initialCluster.map((m) => m.name)).toEqual([id(1), id(2), id(3)]);
  });
  it("gives another set another token", () => {
    const a = planBootstrap({ desired: 3, instances: [inst(1), inst(2), inst(3)] }, "c");
    const b = planBootstrap({ desired: 3, instances: [inst(1), inst(2), inst(4)] }, "c");
    expect(a.kind === "bootstrap" && b.kind === "bootstrap" && a.plan.token !== b.plan.token).toBe(true);
  });
  it("ignores terminating instances", () => {
    expect(
      planBootstrap({ desired: 3, instances: [inst(1), inst(2), inst(3, "Terminating:Wait")] }, "c").kind,
    ).toBe("wait");
  });
});

describe("joinInitialCluster", () => {
  it("names unstarted members after their instance and keeps every member", () => {
    const ms = [member(1), member(2), member(4, { name: "", isLearner: true })];
    expect(joinInitialCluster(ms, new Map([[ip(4), id(4)]]))).toEqual([
      { name: id(1), ip: ip(1) },
      { name: id(2), ip: ip(2) },
      { name: id(4), ip: ip(4) },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------

const D = "dev.internal";
const rec = (
  n: number,
  state: NodeRecord["state"] = "active",
  role: NodeRecord["role"] = "worker",
): NodeRecord => ({
  instanceId: id(n),
  role,
  group: role,
  zone: "z",
  privateIp: ip(n),
  state,
  updatedAt: "",
});
const A = (n: number, value = ip(n)): DnsRecord => ({
  name: `${id(n)}.${D}.`,
  type: "A",
  ttl: 60,
  values: [value],
});

describe("DNS plan", () => {
  it("names node records <instance-id>.<domain> and recognises only those as ours", () => {
    expect(desiredNodeRecords([rec(1), rec(2, "gone")], D)).toEqual([A(1)]);
    expect(isNodeRecordName(`${id(1)}.${D}.`, D)).toBe(true);
    expect(isNodeRecordName(`nginx.${D}.`, D)).toBe(false);
    expect(isNodeRecordName(`${id(1)}.other.internal.`, D)).toBe(false);
  });
  it("builds SRV records from started members; learners only in _etcd-server", () => {
    const srv = desiredSrvRecords(
      [member(1), member(2), member(3, { isLearner: true }), member(4, { name: "" })],
      new Map(),
      D,
    );
    expect(srv).toEqual([
      {
        name: `_etcd-server._tcp.${D}.`,
        type: "SRV",
        ttl: 30,
        values: [1, 2, 3].map((n) => `0 0 2380 ${id(n)}.${D}.`),
      },
      {
        name: `_etcd-client._tcp.${D}.`,
        type: "SRV",
        ttl: 30,
        values: [1, 2].map((n) => `0 0 2379 ${id(n)}.${D}.`),
      },
    ]);
  });
  const scope = { nodes: true, srv: true };
  const foreign: DnsRecord = { name: `nginx.${D}.`, type: "A", ttl: 60, values: ["10.0.0.1"] };
  it.each([
    ["nothing to do", [A(1)], [A(1), foreign], [], []],
    ["missing record", [A(1), A(2)], [A(1)], [A(2)], []],
    ["changed address", [A(1)], [A(1, "127.9.9.200")], [A(1)], []],
    [
      "stale record deleted with its live value",
      [A(1)],
      [A(1), A(2, "127.9.9.77")],
      [],
      [A(2, "127.9.9.77")],
    ],
    ["foreign records untouched", [], [foreign], [], []],
    ["changed TTL", [A(1)], [{ ...A(1), ttl: 300 }], [A(1)], []],
  ] as const)("%s", (_n, desired, live, up, del) => {
    const d = diffRecords([...desired], [...live], D, scope);
    expect(d.upserts).toEqual(up);
    expect(d.deletes).toEqual(del);
  });
  it("leaves SRV records alone when the member list is unknown", () => {
    const srv: DnsRecord = { name: `_etcd-client._tcp.${D}.`, type: "SRV", ttl: 30, values: ["0 0 2379 x."] };
    expect(diffRecords([], [srv], D, { nodes: true, srv: false }).deletes).toEqual([]);
    expect(diffRecords([], [srv], D, scope).deletes).toEqual([srv]);
  });
});

// ---------------------------------------------------------------------------------------------

const group = (
  role: ObservedGroup["role"],
  desired: number,
  ns: number[],
  state = "InService",
): ObservedGroup => ({
  name: role,
  role,
  desired,
  instances: ns.map((n) => ({ instanceId: id(n), ip: ip(n), zone: "z", lifecycleState: state })),
});
const mainRec = (n: number, state: NodeRecord["state"] = "active") => rec(n, state, "main");

describe("reconcile plan", () => {
  const clean = {
    clusterName: "c",
    groups: [group("main", 3, [1, 2, 3]), group("worker", 1, [10]), group("data", 0, [])],
    members: [member(1), member(2), member(3)],
    healthy: healthyOf(1, 2, 3),
    registry: [mainRec(1), mainRec(2), mainRec(3), rec(10)],
    now: "t",
  };
  const kinds = (i: Parameters<typeof planReconcile>[0]) => planReconcile(i).map((r) => r.kind);

  it.each([
    ["clean state: nothing", {}, []],
    [
      "extra member of a gone instance",
      { members: [member(1), member(2), member(3), member(4)], healthy: healthyOf(1, 2, 3, 4) },
      ["remove-member"],
    ],
    [
      "two dead orphans of 5: both go (quorum kept)",
      { members: [1, 2, 3, 4, 5].map((n) => member(n)), healthy: healthyOf(1, 2, 3) },
      ["remove-member", "remove-member"],
    ],
    [
      "orphan removal blocked without quorum",
      { members: [member(1), member(2), member(3), member(4)], healthy: healthyOf(4) },
      ["blocked"],
    ],
    [
      "stale learner of a live instance: promote",
      { members: [member(1), member(2), member(3, { isLearner: true })] },
      ["promote-learner", "register"],
    ],
    [
      "unstarted learner of a live instance: start it",
      { members: [member(1), member(2), member(3, { isLearner: true, name: "" })] },
      ["start-member", "register"],
    ],
    [
      "unstarted learner of a gone instance: remove",
      { members: [member(1), member(2), member(3), member(9, { isLearner: true, name: "" })] },
      ["remove-member"],
    ],
    [
      "main instance not a member: add a learner",
      { members: [member(1), member(2)], healthy: healthyOf(1, 2) },
      ["add-learner", "register"],
    ],
    ["missing registry entry", { registry: [mainRec(1), mainRec(2), mainRec(3)] }, ["register"]],
    ["registry entry of a gone node", { registry: [...clean.registry, rec(11)] }, ["mark-gone"]],
    [
      "gone for more than 7 days: forget",
      {
        now: "2026-11-25T00:00:00Z",
        registry: [...clean.registry, { ...rec(11, "gone"), updatedAt: "2026-11-17T23:59:59Z" }],
      },
      ["forget"],
    ],
    [
      "gone for less than 7 days: kept",
      {
        now: "2026-11-25T00:00:00Z",
        registry: [...clean.registry, { ...rec(11, "gone"), updatedAt: "2026-11-18T00:00:01Z" }],
      },
      [],
    ],
    [
      "registry entry with the wrong address",
      { registry: [mainRec(1), mainRec(2), mainRec(3), { ...rec(10), privateIp: "127.1.1.1" }] },
      ["register"],
    ],
    ["no cluster, main launched: bootstrap", { members: null, registry: [] }, ["bootstrap"]],
    [
      "no cluster, main not launched",
      { members: null, registry: [], groups: [group("main", 3, [1, 2])] },
      ["blocked"],
    ],
  ] as const)("%s", (_n, patch, expected) => {
    expect(kinds({ ...clean, ...(patch as object) } as Parameters<typeof planReconcile>[0])).toEqual(
      expected,
    );
  });

  it("converges: applying the plan's registry repairs leaves nothing to do", () => {
    const input = {
      ...clean,
      registry: [mainRec(1, "gone"), rec(11), { ...rec(10), privateIp: "127.1.1.1" }],
    };
    let registry = input.registry;
    for (const r of actionable(planReconcile(input))) {
      if (r.kind === "register" || r.kind === "mark-gone")
        registry = [...registry.filter((x) => x.instanceId !== r.record.instanceId), r.record];
    }
    expect(actionable(planReconcile({ ...input, registry }))).toEqual([]);
  });

  it("does not add a pending (launching) main instance behind its handler's back", () => {
    expect(
      kinds({
        ...clean,
        groups: [group("main", 4, [1, 2, 3]), { ...group("main", 4, [4], "Pending:Wait"), name: "main2" }],
        registry: [mainRec(1), mainRec(2), mainRec(3)],
      }),
    ).not.toContain("add-learner");
  });
});

describe("etcd start script", () => {
  it("expands the data dir on the node and restarts only on change", () => {
    const s = etcdStartScript({
      name: id(1),
      ip: ip(1),
      initialCluster: [{ name: id(1), ip: ip(1) }],
      state: "new",
      token: "t-1",
    });
    expect(s).toContain('ETCD_DATA_DIR="$ROOT/var/lib/etcd"');
    expect(s).toContain("<<ETCD_ENV_END"); // unquoted: $ROOT expands
    expect(s).toContain("systemctl restart etcd-member.service");
    expect(s).toContain("systemctl start etcd-member.service");
    expect(s).not.toContain("https://");
    expect(s).not.toContain("pki");
  });
  it("with TLS, serves https on both sides from the node's PKI directory, and needs the certificate", () => {
    const s = etcdStartScript({
      name: id(1),
      ip: ip(1),
      initialCluster: [{ name: id(1), ip: ip(1) }],
      state: "new",
      token: "t-1",
      tls: true,
    });
    expect(s).toContain(`ETCD_LISTEN_CLIENT_URLS="https://${ip(1)}:2379"`);
    expect(s).toContain(`ETCD_INITIAL_CLUSTER="${id(1)}=https://${ip(1)}:2380"`);
    expect(s).toContain('ETCD_CLIENT_CERT_AUTH="true"');
    expect(s).toContain('ETCD_PEER_CLIENT_CERT_AUTH="true"');
    expect(s).toContain('ETCD_KEY_FILE="$ROOT/etc/devcluster/pki/node.key"');
    expect(s).not.toContain("__DEVCLUSTER_PKI_DIR__");
    // The check comes before the settings are written.
    expect(s.indexOf("the node has no certificate yet")).toBeLessThan(s.indexOf("ETCD_ENV_END"));
  });
  it("refuses values that would expand in the heredoc", () => {
    expect(() =>
      etcdStartScript({ name: "$(reboot)", ip: ip(1), initialCluster: [], state: "new", token: "t" }),
    ).toThrow();
  });
});
