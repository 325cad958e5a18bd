// The drift-repair rules, each proved on its own: which members are orphans and in which order they
// go, quorum kept at every step, one learner at a time and only for instances in service, promotion
// of started learners only, and a registry that forgets only nodes gone for longer than the age.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  actionable,
  GONE_KEEP_MS,
  planReconcile,
  type ObservedGroup,
  type ReconcileInput,
  type Repair,
} from "../../../functions/domain/reconcilePlan.ts";
import type { EtcdMember } from "../../../functions/domain/model.ts";
import {
  healthyMajority,
  healthyOf,
  id,
  ip,
  learner,
  member,
  memberId,
  range,
  record,
  voters,
} from "./cluster.ts";

const group = (
  role: ObservedGroup["role"],
  ns: number[],
  o: { desired?: number; state?: string; name?: string } = {},
): ObservedGroup => ({
  name: o.name ?? role,
  role,
  desired: o.desired ?? ns.length,
  instances: ns.map((n) => ({
    instanceId: id(n),
    ip: ip(n),
    zone: "z1",
    lifecycleState: o.state ?? "InService",
  })),
});
const NOW = "2026-11-25T00:00:00.000Z";
const mainRec = (n: number, o = {}) => record(n, { role: "main", group: "main", ...o });
const base = (o: Partial<ReconcileInput> = {}): ReconcileInput => ({
  clusterName: "c",
  groups: [group("main", [1, 2, 3]), group("worker", [10])],
  members: voters(1, 2, 3),
  healthy: healthyOf(1, 2, 3),
  registry: [mainRec(1), mainRec(2), mainRec(3), record(10)],
  now: NOW,
  ...o,
});
const removed = (rs: Repair[]) => rs.flatMap((r) => (r.kind === "remove-member" ? [r.member.id] : []));
const blocked = (rs: Repair[]) => rs.flatMap((r) => (r.kind === "blocked" ? [r.reason] : []));
const ofKind = <K extends Repair["kind"]>(rs: Repair[], kind: K) =>
  rs.filter((r): r is Extract<Repair, { kind: K }> => r.kind === kind);

describe("the main group", () => {
  it("is found by role wherever it is listed", () => {
    const rs = planReconcile(base({ groups: [group("worker", [10]), group("main", [1, 2, 3])] }));
    expect(rs).toEqual([]);
  });

  it("counts only live instances with an address as members' instances", () => {
    const main = group("main", [1, 2, 3]);
    main.instances[1]!.lifecycleState = "Terminating:Wait";
    main.instances[2]!.ip = undefined;
    const rs = planReconcile(base({ groups: [main, group("worker", [10])], registry: [] }));
    expect(removed(rs)).toEqual([memberId(2), memberId(3)]);
    expect(ofKind(rs, "remove-member").map((r) => r.reason)).toEqual(
      Array(2).fill("its instance is not in the main group"),
    );
  });

  it("with neither a main group nor members, plans nothing", () => {
    expect(planReconcile(base({ groups: [group("worker", [10])], members: null }))).toEqual([]);
  });

  it("plans the bootstrap when etcd answers with no member, and says why it waits", () => {
    expect(planReconcile(base({ members: [] })).map((r) => r.kind)).toEqual(["bootstrap"]);
    expect(planReconcile(base({ members: null, groups: [group("main", [1, 2], { desired: 3 })] }))).toEqual([
      { kind: "blocked", reason: "bootstrap: 2 of 3 main instances launched" },
    ]);
  });

  it("recognises a member by name when its peer address is not the instance's", () => {
    const moved = member(3, { peerUrls: ["http://127.50.0.3:2380"] });
    expect(removed(planReconcile(base({ members: [member(1), member(2), moved] })))).toEqual([]);
  });
});

describe("orphan members (their instance is gone)", () => {
  it("go learners first, then unhealthy voters, then healthy ones", () => {
    // Main group 1..3; members 4 (healthy voter), 5 (dead voter), 6 (learner) have no instance.
    const members = [member(4), member(5), ...voters(1, 2, 3), learner(6)];
    const rs = planReconcile(base({ members, healthy: healthyOf(1, 2, 3, 4, 6) }));
    expect(removed(rs)).toEqual([memberId(6), memberId(5), memberId(4)]);
  });

  it("ranking decides what can go: the dead one first keeps the healthy majority for the next", () => {
    // 5 voters, 1 2 4 healthy; 4 (healthy) and 5 (dead) are orphans. Removing 4 first would block.
    const rs = planReconcile(base({ members: voters(4, 5, 1, 2, 3), healthy: healthyOf(1, 2, 4) }));
    expect(removed(rs)).toEqual([memberId(5), memberId(4)]);
    expect(blocked(rs)).toEqual([]);
  });

  it("a removal that would break quorum is kept and reported with the counts, by name or by id", () => {
    const rs = planReconcile(
      base({
        members: [member(4), member(5, { name: "" }), ...voters(1, 2, 3)],
        healthy: healthyOf(1, 4, 5),
      }),
    );
    expect(removed(rs)).toEqual([]);
    expect(blocked(rs)).toEqual([
      `keep member ${id(4)}: removing it leaves 2/4 healthy voters (need 3)`,
      `keep member ${memberId(5)}: removing it leaves 2/4 healthy voters (need 3)`,
    ]);
  });

  it("never removes a voter unless the remaining healthy voters are a strict majority, at every step (property)", () => {
    const arb = fc
      .record({
        voterCount: fc.integer({ min: 1, max: 9 }),
        learners: fc.integer({ min: 0, max: 2 }),
        liveShare: fc.double({ min: 0, max: 1, noNaN: true }),
      })
      .chain(({ voterCount, learners, liveShare }) => {
        const ms: EtcdMember[] = [
          ...voters(...range(1, voterCount)),
          ...range(20, 19 + learners).map((n) => learner(n)),
        ];
        return fc.record({
          members: fc.shuffledSubarray(ms, { minLength: ms.length, maxLength: ms.length }),
          healthy: fc.subarray(ms.map((m) => m.id)),
          live: fc.constant(range(1, voterCount).filter((n) => n <= Math.round(voterCount * liveShare))),
        });
      });
    fc.assert(
      fc.property(arb, ({ members, healthy, live }) => {
        const h = new Set(healthy);
        const rs = planReconcile(base({ groups: [group("main", live)], members, healthy: h, registry: [] }));
        let left = members;
        for (const r of ofKind(rs, "remove-member")) {
          left = left.filter((m) => m.id !== r.member.id);
          if (r.member.isLearner) continue;
          const vs = left.filter((m) => !m.isLearner);
          expect(healthyMajority(vs.length, vs.filter((m) => h.has(m.id)).length)).toBe(true);
        }
        // Nothing whose instance is live is ever removed.
        for (const r of ofKind(rs, "remove-member")) expect(live).not.toContain(Number(r.member.id) - 1000);
      }),
    );
  });
});

describe("learners and joining instances", () => {
  it("promotes a started learner of a live instance and starts one that never started", () => {
    const rs = planReconcile(base({ members: [member(1), member(2), learner(3)] }));
    expect(ofKind(rs, "promote-learner")).toEqual([
      { kind: "promote-learner", member: learner(3), instanceId: id(3) },
    ]);
    const unstarted = learner(3, { name: "" });
    expect(
      ofKind(planReconcile(base({ members: [member(1), member(2), unstarted] })), "start-member"),
    ).toEqual([{ kind: "start-member", member: unstarted, instanceId: id(3), ip: ip(3) }]);
  });

  it("adds one learner at a time, the lowest instance id first", () => {
    const rs = planReconcile(base({ groups: [group("main", [5, 4, 3, 2, 1])], members: voters(1, 2, 3) }));
    expect(ofKind(rs, "add-learner")).toEqual([{ kind: "add-learner", instanceId: id(4), ip: ip(4) }]);
  });

  it("adds only instances in service: a pending one belongs to its launch handler", () => {
    const main = group("main", [1, 2, 3, 4]);
    main.instances[3]!.lifecycleState = "Pending:Wait";
    expect(ofKind(planReconcile(base({ groups: [main] })), "add-learner")).toEqual([]);
    main.instances[3]!.lifecycleState = "InService";
    expect(ofKind(planReconcile(base({ groups: [main] })), "add-learner")).toHaveLength(1);
  });

  it("does not add while a learner is pending, and says so", () => {
    const rs = planReconcile(
      base({ groups: [group("main", [1, 2, 3, 4])], members: [...voters(1, 2), learner(3)] }),
    );
    expect(ofKind(rs, "add-learner")).toEqual([]);
    expect(blocked(rs)).toEqual([`add ${id(4)}: a learner is still pending`]);
  });

  it("does not add without a healthy quorum, and says so", () => {
    const rs = planReconcile(base({ groups: [group("main", [1, 2, 3, 4])], healthy: healthyOf(1) }));
    expect(ofKind(rs, "add-learner")).toEqual([]);
    expect(blocked(rs)).toEqual([`add ${id(4)}: no healthy quorum`]);
  });
});

describe("the node registry", () => {
  const regOf = (rs: Repair[]) => ofKind(rs, "register").map((r) => r.record);

  it("registers a main node as joining until it is a started voter, then active", () => {
    const joining = regOf(
      planReconcile(
        base({ members: [member(1), member(2), learner(3)], registry: [mainRec(1), mainRec(2), record(10)] }),
      ),
    );
    expect(joining).toEqual([
      {
        instanceId: id(3),
        role: "main",
        group: "main",
        zone: "z1",
        privateIp: ip(3),
        publicIp: undefined,
        state: "joining",
        updatedAt: NOW,
      },
    ]);
    const active = regOf(planReconcile(base({ registry: [mainRec(1), mainRec(2), record(10)] })));
    expect(active).toMatchObject([{ instanceId: id(3), state: "active" }]);
  });

  it.each([
    ["gone", { state: "gone" as const }],
    ["leaving", { state: "leaving" as const }],
    ["joining", { state: "joining" as const }],
    ["in another group", { group: "old-workers" }],
    ["with another role", { role: "data" as const }],
    ["at another address", { privateIp: "127.1.1.1" }],
  ])("re-registers a live node recorded as %s", (_n, o) => {
    const rs = planReconcile(base({ registry: [mainRec(1), mainRec(2), mainRec(3), record(10, o)] }));
    expect(regOf(rs)).toMatchObject([
      { instanceId: id(10), role: "worker", group: "worker", privateIp: ip(10), state: "active" },
    ]);
  });

  it("ignores instances that are not live or have no address", () => {
    const workers = group("worker", [10, 11, 12]);
    workers.instances[1]!.lifecycleState = "Terminating";
    workers.instances[2]!.ip = undefined;
    const rs = planReconcile(base({ groups: [group("main", [1, 2, 3]), workers] }));
    expect(regOf(rs)).toEqual([]);
  });

  it("marks a node gone when its instance is not live, once", () => {
    const rs = planReconcile(
      base({ registry: [mainRec(1), mainRec(2), mainRec(3), record(10), record(11)] }),
    );
    expect(rs).toEqual([{ kind: "mark-gone", record: { ...record(11), state: "gone", updatedAt: NOW } }]);
    expect(
      planReconcile(
        base({
          registry: [
            mainRec(1),
            mainRec(2),
            mainRec(3),
            record(10),
            record(11, { state: "gone", updatedAt: NOW }),
          ],
        }),
      ),
    ).toEqual([]);
  });

  it("forgets only records that are gone, of nodes not live, for longer than the age", () => {
    const at = (ms: number) => new Date(Date.parse(NOW) - ms).toISOString();
    const clean = [mainRec(1), mainRec(2), mainRec(3)];
    const forgotten = (extra: ReturnType<typeof record>[]) =>
      ofKind(planReconcile(base({ registry: [...clean, ...extra] })), "forget").map(
        (r) => r.record.instanceId,
      );
    expect(forgotten([record(10), record(11, { state: "gone", updatedAt: at(GONE_KEEP_MS + 1) })])).toEqual([
      id(11),
    ]);
    expect(forgotten([record(10), record(11, { state: "gone", updatedAt: at(GONE_KEEP_MS) })])).toEqual([]);
    // Not gone yet (marked gone now, forgotten a week later), however old the record.
    expect(forgotten([record(10), record(11, { updatedAt: at(30 * GONE_KEEP_MS) })])).toEqual([]);
    // Recorded gone but live again: re-registered, never forgotten.
    expect(forgotten([record(10, { state: "gone", updatedAt: at(30 * GONE_KEEP_MS) })])).toEqual([]);
    expect(GONE_KEEP_MS).toBe(7 * 24 * 3600 * 1000);
  });
});

describe("actionable repairs", () => {
  it("are every repair but the informational ones, in order", () => {
    const rs: Repair[] = [
      { kind: "blocked", reason: "x" },
      { kind: "add-learner", instanceId: id(1), ip: ip(1) },
      { kind: "blocked", reason: "y" },
      { kind: "forget", record: record(2) },
    ];
    expect(actionable(rs)).toEqual([rs[1], rs[3]]);
    expect(actionable([])).toEqual([]);
  });
});
