// The lifecycle and reconcile operations on the in-memory fakes (test/fakes, held to the real
// adapters by test/integration/contracts): the decisions and their reports, without processes.
import { nodeKey } from "../../../functions/domain/etcdKeys.ts";
import { describe, expect, it } from "vitest";
import { handleLifecycle } from "../../../functions/operations/lifecycle.ts";
import { handleReconcile, promotePending } from "../../../functions/operations/reconcile.ts";
import { type NodeRecord, type Role } from "../../../functions/domain/model.ts";
import { etcdPeerUrl } from "../../../functions/domain/model.ts";
import { fakeWorld, quietLog, type FakeWorld } from "../../fakes/world.ts";
import { lifecycleEvent } from "../../../local/cluster/events.ts";

const codes = (steps: { code: string }[]) => steps.map((s) => s.code);
const launch = (w: FakeWorld, role: Role, id: string) =>
  handleLifecycle(w.event("launch", role, id), w.deps, quietLog);
const terminate = (w: FakeWorld, role: Role, id: string) =>
  handleLifecycle(w.event("terminate", role, id), w.deps, quietLog);

/** Three main launches form the cluster (the first bootstraps it). */
async function formed(): Promise<FakeWorld> {
  const w = fakeWorld();
  const mains = w.groups.scaleTo(w.names.main, 3);
  for (const id of mains) expect((await launch(w, "main", id)).result).toBe("CONTINUE");
  return w;
}

describe("lifecycle on fakes", () => {
  it("three main launches: one bootstraps, every node registered active, one A record each", async () => {
    const w = fakeWorld();
    const mains = w.groups.scaleTo(w.names.main, 3);
    const reports = [];
    for (const id of mains) reports.push(await launch(w, "main", id));
    expect(codes(reports[0]!.steps)).toContain("LC_BOOTSTRAPPED");
    for (const r of reports.slice(1)) expect(codes(r.steps)).toContain("LC_ALREADY_MEMBER");
    expect(w.etcd.members.map((m) => m.name).sort()).toEqual([...mains].sort());
    for (const id of mains) {
      expect(JSON.parse(w.etcd.kv.get(nodeKey(id))!)).toMatchObject({ state: "active", role: "main" });
      expect(w.dns.records.get(`${id}.fake.test.internal. A`)?.values).toEqual([w.ipOf(id)]);
    }
    expect(w.actions.completions.map((c) => c.result)).toEqual(["CONTINUE", "CONTINUE", "CONTINUE"]);
  });

  it("with ETCD_TLS: TLS start settings, authentication on as the cluster forms, https members, -ssl discovery", async () => {
    const w = fakeWorld({ etcdTls: true });
    const mains = w.groups.scaleTo(w.names.main, 3);
    for (const id of mains) expect((await launch(w, "main", id)).result).toBe("CONTINUE");
    expect(w.etcd.authEnabled).toBe(true);
    const settings = w.commands.requests.filter((r) => r.comment.includes("etcd start settings (new)"));
    expect(settings).toHaveLength(3);
    for (const r of settings) {
      expect(r.script).toContain(`ETCD_CLIENT_CERT_AUTH="true"`);
      expect(r.script).toContain(`ETCD_LISTEN_PEER_URLS="https://`);
      expect(r.script).not.toContain("http://");
    }
    // A fourth main node joins as a learner at its https peer URL.
    const [fourth] = w.groups.scaleTo(w.names.main, 4).filter((id) => !mains.includes(id));
    expect((await launch(w, "main", fourth!)).result).toBe("CONTINUE");
    expect(w.etcd.members.find((m) => m.name === fourth)?.peerUrls).toEqual([
      `https://${w.ipOf(fourth!)}:2380`,
    ]);
    const names = [...w.dns.records.values()].filter((r) => r.type === "SRV").map((r) => r.name);
    expect(names.sort()).toEqual([
      "_etcd-client-ssl._tcp.fake.test.internal.",
      "_etcd-server-ssl._tcp.fake.test.internal.",
    ]);
    // Without the setting nothing of this: the plain cluster of the first test.
    const plain = await formed();
    expect(plain.etcd.authEnabled).toBe(false);
  });

  it("a main launch into a formed cluster joins as a learner, starts and promotes itself", async () => {
    const w = await formed();
    const [id] = w.groups.scaleTo(w.names.main, 4);
    const r = await launch(w, "main", id!);
    expect(r.result).toBe("CONTINUE");
    const c = codes(r.steps);
    for (const code of ["LC_LEARNER_ADDED", "LC_START_SENT", "LC_MEMBER_STARTED", "LC_LEARNER_PROMOTED"])
      expect(c, code).toContain(code);
    expect(c.indexOf("LC_LEARNER_PROMOTED")).toBeLessThan(c.indexOf("LC_REGISTERED"));
    expect(r.steps.find((s) => s.code === "LC_REGISTERED")?.detail).toBe("active");
    expect(w.etcd.members.filter((m) => !m.isLearner)).toHaveLength(4);
  });

  it("a learner that never catches up is left joining, for the promotion check, which promotes it later", async () => {
    const w = await formed();
    const [id] = w.groups.scaleTo(w.names.main, 4);
    const start = w.etcd.startLearner.bind(w.etcd);
    w.etcd.startLearner = (memberId, name) => start(memberId, name, { caughtUp: false });
    const r = await launch(w, "main", id!);
    expect(r.result).toBe("CONTINUE");
    expect(codes(r.steps)).toContain("LC_PROMOTION_DEFERRED");
    expect(r.steps.find((s) => s.code === "LC_REGISTERED")?.detail).toBe("joining");
    const learner = w.etcd.members.find((m) => m.name === id)!;
    expect(learner.isLearner).toBe(true);
    learner.caughtUp = true;
    expect(await promotePending(w.deps, quietLog)).toEqual({ promoted: [id], pending: [] });
    expect(learner.isLearner).toBe(false);
  });

  it("a worker terminate: no member to remove, record gone, A record deleted, nothing left over", async () => {
    const w = await formed();
    const [id] = w.groups.scaleTo(w.names.worker, 1);
    expect(codes((await launch(w, "worker", id!)).steps)).toEqual([
      "LC_REGISTERED",
      "LC_DNS_SYNCED",
      "LC_COMPLETED",
    ]);
    w.groups.terminate(w.names.worker, id!);
    const r = await terminate(w, "worker", id!);
    expect(r.result).toBe("CONTINUE");
    expect(codes(r.steps)).toEqual(["LC_NOT_MEMBER", "LC_MARKED_GONE", "LC_DNS_SYNCED", "LC_COMPLETED"]);
    expect(r.leftovers).toEqual([]);
    expect((JSON.parse(w.etcd.kv.get(nodeKey(id!))!) as NodeRecord).state).toBe("gone");
    expect(w.dns.records.has(`${id}.fake.test.internal. A`)).toBe(false);
  });

  it("a main terminate removes its member when quorum allows; with etcd gone it leaves the removal to reconcile", async () => {
    const w = await formed();
    w.groups.scaleTo(w.names.main, 4);
    const [fourth] = [...w.groups.groups.get(w.names.main)!.members].reverse().map((m) => m.instanceId);
    await launch(w, "main", fourth!);
    w.groups.terminate(w.names.main, fourth!);
    const r = await terminate(w, "main", fourth!);
    expect(r.steps.find((s) => s.code === "LC_MEMBER_REMOVED")?.detail).toMatch(/^\d+$/);
    expect(w.etcd.members.map((m) => m.name)).not.toContain(fourth);

    for (const m of w.etcd.members) m.alive = false;
    const [victim] = w.groups.groups.get(w.names.main)!.members.map((m) => m.instanceId);
    w.groups.terminate(w.names.main, victim!);
    const lost = await terminate(w, "main", victim!);
    expect(lost.result).toBe("CONTINUE");
    expect(codes(lost.leftovers)).toContain("LC_ETCD_UNREACHABLE");
  });
});

describe("reconcile on fakes", () => {
  it("removes a member whose instance is gone, marks a vanished node's record gone, then has nothing to do", async () => {
    const w = await formed();
    // A learner at an address no instance has, and a record of an instance that no longer exists.
    w.etcd.members.push({
      id: "777",
      name: "",
      peerUrls: [etcdPeerUrl("127.0.0.200")],
      clientUrls: [],
      isLearner: true,
      alive: false,
      caughtUp: false,
    });
    const ghost: NodeRecord = {
      instanceId: "i-00000000000000bad",
      role: "worker",
      group: w.names.worker,
      zone: "us-east-1a",
      privateIp: "127.0.0.201",
      state: "active",
      updatedAt: new Date().toISOString(),
    };
    w.etcd.put(nodeKey(ghost.instanceId), JSON.stringify(ghost));
    const report = await handleReconcile(w.deps, quietLog);
    expect(report.failed).toEqual([]);
    expect(codes(report.repairs)).toContain("RC_MEMBER_REMOVED");
    expect(report.repairs).toContainEqual({ code: "RC_MARKED_GONE", detail: "i-00000000000000bad" });
    expect(w.etcd.members.map((m) => m.id)).not.toContain("777");
    const again = await handleReconcile(w.deps, quietLog);
    expect(again.repairs).toEqual([]);
    expect(again.blocked).toEqual([]);
  });

  it("members answer but no quorum: ETCD_NO_QUORUM, the alarm, and no repair", async () => {
    const w = await formed();
    const [a, b] = w.etcd.members;
    a!.alive = false;
    b!.alive = false;
    const alarms: unknown[] = [];
    const report = await handleReconcile(
      { ...w.deps, noQuorum: async (_l, d) => void alarms.push(d) },
      quietLog,
    );
    expect(report.code).toBe("ETCD_NO_QUORUM");
    expect(report.blocked.find((x) => x.code === "RC_NO_QUORUM")?.detail).toMatch(
      /^0 of 3 voters healthy, need 2/,
    );
    expect(report.repairs).toEqual([]);
    expect(alarms).toHaveLength(1);
  });
});

describe("lifecycle on fakes: events that do not match the cluster", () => {
  const forged = (w: FakeWorld, kind: "launch" | "terminate", groupName: string, instanceId: string) =>
    handleLifecycle(
      lifecycleEvent({ kind, groupName, hookName: `${kind}-hook`, instanceId, region: "us-east-1" }),
      w.deps,
      quietLog,
    );
  /** Everything a refused event must leave alone. */
  const snapshot = (w: FakeWorld) =>
    JSON.stringify({
      kv: [...w.etcd.kv.entries()].sort(),
      members: w.etcd.members.map((m) => [m.id, m.name, m.isLearner]),
      dns: [...w.dns.records.entries()].sort(),
      commands: w.commands.requests.length,
      completions: w.actions.completions.length,
    });

  it.each([
    ["a terminate naming the worker group for a healthy main node", "terminate", "worker", "main"],
    ["a launch naming the worker group for a main node", "launch", "worker", "main"],
    ["a terminate naming the main group for a main node that is InService", "terminate", "main", "main"],
    ["a launch naming another cluster's group", "launch", "other", "worker"],
  ] as const)("refuses %s: nothing changed, nothing completed", async (_, kind, named, actual) => {
    const w = await formed();
    const [worker] = w.groups.scaleTo(w.names.worker, 1);
    expect((await launch(w, "worker", worker!)).result).toBe("CONTINUE");
    const id = actual === "main" ? w.etcd.members[0]!.name : worker!;
    const before = snapshot(w);
    const r = await forged(w, kind, named === "other" ? "someone-elses-worker" : w.names[named], id);
    expect(r.result).toBe("REFUSED");
    expect(codes(r.steps)).toEqual(["LC_REFUSED"]);
    expect(snapshot(w)).toBe(before);
    expect(w.etcd.members.filter((m) => !m.isLearner)).toHaveLength(3);
  });

  it("refuses a stray instance without the cluster tag: no record, no A record", async () => {
    const w = await formed();
    const [stray] = w.groups.scaleTo(w.names.worker, 1);
    w.groups.instances.get(stray!)!.clusterTag = undefined;
    const before = snapshot(w);
    const r = await launch(w, "worker", stray!);
    expect(r.result).toBe("REFUSED");
    expect(r.error).toMatch(/does not carry devcluster:cluster=fake \(no tag\)/);
    expect(snapshot(w)).toBe(before);
    expect(w.etcd.kv.has(nodeKey(stray!))).toBe(false);
  });
});
