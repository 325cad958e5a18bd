// The membership rules, each proved on its own: quorum at and around its limit for 3, 5 and 7 voters,
// learners never counted, the last voter kept, bootstrap only of the exact launched set.
import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  isLiveState,
  joinInitialCluster,
  memberOf,
  peerIp,
  planBootstrap,
  planLaunchMain,
  planRemove,
  quorumAfter,
  quorumOf,
  type LaunchMainInput,
} from "../../../functions/domain/membershipPlan.ts";
import type { EtcdMember } from "../../../functions/domain/model.ts";
import {
  healthyMajority,
  healthyOf,
  id,
  inst,
  ip,
  learner,
  member,
  memberId,
  range,
  voters,
} from "./cluster.ts";

describe("lifecycle states", () => {
  it.each(["Pending", "Pending:Wait", "Pending:Proceed", "InService", "EnteringStandby", "Standby"])(
    "%s is live",
    (s) => {
      expect(isLiveState(s)).toBe(true);
    },
  );
  it.each([
    "Terminating",
    "Terminating:Wait",
    "Terminated",
    "Detaching",
    "Detached",
    "Warmed:Pending",
    "Warmed:Running",
    "unknown",
  ])("%s is not live", (s) => {
    expect(isLiveState(s)).toBe(false);
  });
});

describe("quorum", () => {
  it("needs a strict majority of the voters", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9].map(quorumOf)).toEqual([1, 2, 2, 3, 3, 4, 4, 5, 5]);
  });

  // [voters, healthy voters, ok]: at the limit and one below it, for every odd cluster size we run.
  it.each([
    [3, 3, true],
    [3, 2, true],
    [3, 1, false],
    [3, 0, false],
    [5, 3, true],
    [5, 2, false],
    [7, 4, true],
    [7, 3, false],
  ])("%i voters with %i healthy: ok is %s", (n, h, ok) => {
    const q = quorumAfter(voters(...range(1, n)), healthyOf(...range(1, h)));
    expect(q).toEqual({ ok, voters: n, healthyVoters: h, need: Math.floor(n / 2) + 1 });
  });

  it.each([
    // [voters, healthy, remove, ok after]
    [3, 3, "healthy", true], // 2 of 2
    [3, 2, "healthy", false], // 1 of 2
    [3, 2, "dead", true], // 2 of 2
    [5, 3, "healthy", false], // 2 of 4
    [5, 4, "healthy", true], // 3 of 4
    [5, 3, "dead", true], // 3 of 4
    [7, 4, "healthy", false], // 3 of 6
    [7, 5, "healthy", true], // 4 of 6
    [7, 4, "dead", true], // 4 of 6
  ] as const)("%i voters with %i healthy, removing a %s one: ok is %s", (n, h, which, ok) => {
    const removed = which === "healthy" ? 1 : n; // members 1..h are the healthy ones
    const q = quorumAfter(voters(...range(1, n)), healthyOf(...range(1, h)), memberId(removed));
    expect(q.voters).toBe(n - 1);
    expect(q.healthyVoters).toBe(which === "healthy" ? h - 1 : h);
    expect(q.ok).toBe(ok);
  });

  it("never counts learners, healthy or not, as voters", () => {
    // Two healthy learners beside 1 healthy voter of 3 do not make a quorum.
    const ms = [...voters(1, 2, 3), learner(4), learner(5)];
    expect(quorumAfter(ms, healthyOf(1, 4, 5))).toEqual({ ok: false, voters: 3, healthyVoters: 1, need: 2 });
    expect(quorumAfter(ms, healthyOf(1, 2))).toEqual({ ok: true, voters: 3, healthyVoters: 2, need: 2 });
    // Only learners: no voter at all, never a quorum.
    expect(quorumAfter([learner(1), learner(2)], healthyOf(1, 2))).toMatchObject({
      ok: false,
      voters: 0,
      healthyVoters: 0,
    });
  });

  it("has no quorum without voters", () => {
    expect(quorumAfter([], new Set())).toMatchObject({ ok: false, voters: 0 });
    expect(quorumAfter(voters(1), healthyOf(1), memberId(1))).toMatchObject({ ok: false, voters: 0 });
  });
});

/** A member list of 1-9 voters and 0-2 learners with any subset healthy. */
const clusterArb = fc
  .record({ voterCount: fc.integer({ min: 1, max: 9 }), learnerCount: fc.integer({ min: 0, max: 2 }) })
  .chain(({ voterCount, learnerCount }) => {
    const ms: EtcdMember[] = [
      ...voters(...range(1, voterCount)),
      ...range(voterCount + 1, voterCount + learnerCount).map((n) => learner(n)),
    ];
    return fc.record({
      members: fc.constant(ms),
      healthy: fc.subarray(ms.map((m) => m.id)).map((xs) => new Set(xs) as ReadonlySet<string>),
      target: fc.integer({ min: 0, max: ms.length - 1 }),
    });
  });

describe("removing a member", () => {
  it("never removes a voter when the remaining healthy voters would not be a strict majority (property)", () => {
    fc.assert(
      fc.property(clusterArb, ({ members, healthy, target }) => {
        const m = members[target]!;
        const n = Number(m.id) - 1000;
        const plan = planRemove(members, healthy, { instanceId: id(n), ip: ip(n) });
        const rest = members.filter((x) => !x.isLearner && x.id !== m.id);
        const safe = healthyMajority(rest.length, rest.filter((x) => healthy.has(x.id)).length);
        expect(plan.kind).toBe(m.isLearner || safe ? "remove" : "refuse");
        if (plan.kind !== "not-member") expect(plan.member).toBe(m);
      }),
    );
  });

  it("removes a learner whatever the voters' health, and says so in its check", () => {
    const p = planRemove([...voters(1, 2, 3), learner(4)], healthyOf(), { instanceId: id(4), ip: ip(4) });
    expect(p).toMatchObject({ kind: "remove", check: { ok: true, voters: 3, healthyVoters: 0 } });
  });

  it("refuses the last voting member, naming it as such", () => {
    const p = planRemove([member(1), learner(2)], healthyOf(1, 2), { instanceId: id(1), ip: ip(1) });
    expect(p).toMatchObject({ kind: "refuse", reason: "it is the last voting member", check: { voters: 0 } });
  });

  it("refuses a voter whose removal breaks quorum, with the counts", () => {
    const p = planRemove(voters(1, 2, 3, 4, 5), healthyOf(1, 2, 3), { instanceId: id(1), ip: ip(1) });
    expect(p).toMatchObject({
      kind: "refuse",
      reason: "the remaining 4 voters would have 2 healthy, need 3",
    });
  });

  it("finds the member by name when the node's address is unknown", () => {
    const ms = voters(1, 2, 3);
    expect(planRemove(ms, healthyOf(1, 2, 3), { instanceId: id(2) })).toMatchObject({
      kind: "remove",
      member: ms[1],
    });
    expect(planRemove(ms, healthyOf(1, 2, 3), { instanceId: id(9) })).toEqual({ kind: "not-member" });
    // An added-but-unstarted member has no name: without an address it cannot be recognised.
    expect(planRemove([...ms, learner(4, { name: "" })], healthyOf(1, 2, 3), { instanceId: id(4) })).toEqual({
      kind: "not-member",
    });
  });
});

describe("which member stands for a node", () => {
  it("is found by peer URL first, then by name", () => {
    const moved = member(1, { peerUrls: ["http://127.50.0.1:2380"] }); // started under its name, advertising another address
    const unstarted = member(2, { name: "" });
    expect(memberOf([moved, unstarted], { instanceId: id(1), ip: ip(1) })).toBe(moved);
    expect(memberOf([moved, unstarted], { instanceId: id(2), ip: ip(2) })).toBe(unstarted);
    expect(memberOf([moved, unstarted], { instanceId: id(3), ip: ip(3) })).toBeUndefined();
  });
  it("is found by its peer address whatever the scheme (a member serving TLS)", () => {
    const tls = member(1, { name: "", peerUrls: [`https://${ip(1)}:2380`] });
    expect(memberOf([tls], { instanceId: id(1), ip: ip(1) })).toBe(tls);
    expect(memberOf([tls], { instanceId: id(2), ip: ip(2) })).toBeUndefined();
  });
  it("reads the peer address from the first peer URL, and nothing from none or a malformed one", () => {
    expect(peerIp(member(1))).toBe(ip(1));
    expect(peerIp(member(1, { peerUrls: [] }))).toBeUndefined();
    expect(peerIp(member(1, { peerUrls: ["not a url"] }))).toBeUndefined();
  });
});

describe("launch of a main node", () => {
  const main3 = { desired: 3, instances: [inst(1), inst(2), inst(3)] };
  const launch = (o: Partial<LaunchMainInput> & Pick<LaunchMainInput, "node">) =>
    planLaunchMain({
      members: voters(1, 2, 3),
      healthy: healthyOf(1, 2, 3),
      main: main3,
      clusterName: "c",
      ...o,
    });

  it("treats an empty member list like no answer: bootstrap of the launched group", () => {
    const p = launch({ node: { instanceId: id(1), ip: ip(1) }, members: [] });
    expect(p).toMatchObject({ kind: "bootstrap", plan: { leader: id(1) } });
  });

  it("reports a started member as started", () => {
    expect(launch({ node: { instanceId: id(2), ip: ip(2) } })).toEqual({
      kind: "already-member",
      member: member(2),
      started: true,
    });
  });

  it("waits, naming the node, when it is not among the launched main instances", () => {
    expect(launch({ node: { instanceId: id(7), ip: ip(7) }, members: null })).toEqual({
      kind: "wait-bootstrap",
      reason: `${id(7)} is not among the launched main instances`,
    });
  });

  it("refuses to add a learner without a healthy quorum, with the counts", () => {
    const p = launch({
      node: { instanceId: id(4), ip: ip(4) },
      members: voters(1, 2, 3, 5, 6),
      healthy: healthyOf(1, 2),
    });
    expect(p).toEqual({ kind: "refuse", reason: "no healthy quorum (2/5 voters healthy, need 3)" });
  });

  it("adds a learner at the node's peer URL, one at a time (property)", () => {
    fc.assert(
      fc.property(clusterArb, ({ members, healthy }) => {
        const n = 50; // a new node
        const p = planLaunchMain({
          node: { instanceId: id(n), ip: ip(n) },
          members,
          healthy,
          main: main3,
          clusterName: "c",
        });
        const vs = members.filter((m) => !m.isLearner);
        const ok = healthyMajority(vs.length, vs.filter((m) => healthy.has(m.id)).length);
        const pending = members.find((m) => m.isLearner);
        if (!ok) expect(p.kind).toBe("refuse");
        else if (pending) expect(p).toEqual({ kind: "learner-pending", learner: pending });
        else expect(p).toEqual({ kind: "add-learner", peerUrl: `http://${ip(n)}:2380` });
      }),
    );
  });

  it("adds the learner with an https peer URL when the members serve TLS", () => {
    const members = [member(1), member(2), member(3)];
    const p = planLaunchMain({
      node: { instanceId: id(50), ip: ip(50) },
      members,
      healthy: new Set(members.map((m) => m.id)),
      main: main3,
      clusterName: "c",
      tls: true,
    });
    expect(p).toEqual({ kind: "add-learner", peerUrl: `https://${ip(50)}:2380` });
  });
});

describe("bootstrap", () => {
  it("forms a one-node cluster when one main node is desired", () => {
    const b = planBootstrap({ desired: 1, instances: [inst(1)] }, "c");
    expect(b).toMatchObject({
      kind: "bootstrap",
      plan: { initialCluster: [{ name: id(1), ip: ip(1) }], leader: id(1) },
    });
  });

  it("waits, saying why, for a group that wants none, is short, or has too many", () => {
    expect(planBootstrap({ desired: 0, instances: [] }, "c")).toEqual({
      kind: "wait",
      reason: "main group desired capacity is 0",
    });
    expect(planBootstrap({ desired: 0, instances: [inst(1)] }, "c").kind).toBe("wait");
    expect(planBootstrap({ desired: 3, instances: [inst(1), inst(2)] }, "c")).toEqual({
      kind: "wait",
      reason: "2 of 3 main instances launched",
    });
    expect(planBootstrap({ desired: 2, instances: [inst(1), inst(2), inst(3)] }, "c")).toEqual({
      kind: "wait",
      reason: "3 main instances for desired 2: group is changing",
    });
  });

  it("counts only live instances that have an address", () => {
    const noIp = { ...inst(3), ip: "" };
    expect(planBootstrap({ desired: 3, instances: [inst(1), inst(2), noIp] }, "c").kind).toBe("wait");
    expect(
      planBootstrap({ desired: 2, instances: [inst(1), inst(2), noIp, inst(4, "Terminated")] }, "c").kind,
    ).toBe("bootstrap");
  });

  it("derives the token from the cluster name and the sorted instance ids only, so every planner version agrees", () => {
    const ids = [id(1), id(2), id(3)];
    const expected = `dev-${createHash("sha256").update(ids.join(",")).digest("hex").slice(0, 16)}`;
    const b = planBootstrap({ desired: 3, instances: [inst(3), inst(1), inst(2)] }, "dev");
    expect(b.kind === "bootstrap" && b.plan.token).toBe(expected);
    expect(expected).toMatch(/^dev-[0-9a-f]{16}$/);
  });
});

describe("initial cluster of a joining member", () => {
  it("names unstarted members after their instance, or after their id when the instance is unknown, and skips members without a peer address", () => {
    const ms = [member(1), member(2, { name: "" }), member(3, { name: "" }), member(4, { peerUrls: [] })];
    expect(joinInitialCluster(ms, new Map([[ip(2), id(2)]]))).toEqual([
      { name: id(1), ip: ip(1) },
      { name: id(2), ip: ip(2) },
      { name: `member-${memberId(3)}`, ip: ip(3) },
    ]);
  });
});
