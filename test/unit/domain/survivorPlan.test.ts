// Recovery from the survivor, planned: nothing while a quorum is healthy, the voter with the highest
// applied index otherwise (ties broken the same way every time, learners never chosen), a snapshot
// restore when no voter answers; and the node scripts: data set aside, never deleted, the flag only
// on a one-off run.
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import {
  forceNewClusterScript,
  planSurvivorRecovery,
  setAsideScript,
  type SurvivorNode,
  type SurvivorStatus,
} from "../../../functions/domain/survivorPlan.ts";
import { InvariantError } from "../../../functions/domain/errors.ts";
import { id, ip, learner, member, memberId } from "./cluster.ts";

const at = new Date("2026-11-26T09:30:05.123Z");
const st = (n: number, applied: number, o: Partial<SurvivorStatus> = {}): SurvivorStatus => ({
  memberId: memberId(n),
  isLearner: false,
  appliedIndex: applied,
  committedIndex: applied,
  term: 3,
  revision: applied - 5,
  ...o,
});
const node = (n: number, status?: SurvivorStatus, healthy = false): SurvivorNode => ({
  instanceId: id(n),
  ip: ip(n),
  status,
  healthy,
});

describe("planSurvivorRecovery", () => {
  const three = [member(1), member(2), member(3)];
  it.each([
    [
      "a healthy majority of voters",
      [node(1, st(1, 9), true), node(2, st(2, 9), true), node(3)],
      three,
      "HAS_QUORUM",
    ],
    ["no node answers", [node(1), node(2), node(3)], three, "NO_SURVIVOR"],
    [
      "only a learner answers",
      [node(1), node(2), node(4, st(4, 99, { isLearner: true }))],
      [...three, learner(4)],
      "NO_SURVIVOR",
    ],
    ["an answering member not in the list (another cluster)", [node(5, st(5, 50))], three, "NO_SURVIVOR"],
    ["no main node", [], three, "NO_NODES"],
  ] as const)("plans nothing when %s", (_what, nodes, members, code) => {
    const p = planSurvivorRecovery({ nodes: [...nodes], members: [...members], at });
    expect(p).toMatchObject({ kind: "none", code });
  });

  it.each([
    ["the highest applied index", [node(1, st(1, 10)), node(2, st(2, 12)), node(3, st(3, 11))], 2],
    [
      "on a tie, the higher committed index",
      [node(1, st(1, 12, { committedIndex: 13 })), node(2, st(2, 12, { committedIndex: 12 }))],
      1,
    ],
    [
      "on a tie of both, the higher term",
      [node(1, st(1, 12, { term: 3 })), node(2, st(2, 12, { term: 4 }))],
      2,
    ],
    ["on a full tie, the lower instance id", [node(3, st(3, 12)), node(2, st(2, 12))], 2],
    [
      "a voter over a learner that applied more",
      [node(1, st(1, 5)), node(4, st(4, 50, { isLearner: true }))],
      1,
    ],
    ["one healthy voter of three (no quorum)", [node(1, st(1, 9), true), node(2), node(3)], 1],
  ] as const)("chooses %s", (_what, nodes, survivor) => {
    const members = [member(1), member(2), member(3), learner(4)];
    const p = planSurvivorRecovery({ nodes: [...nodes], members, at });
    if (p.kind !== "recover") throw new Error(`expected a recovery, got ${p.reason}`);
    expect(p.survivor.instanceId).toBe(id(survivor));
    expect(p.endpoint).toBe(`http://${ip(survivor)}:2379`);
    expect(p.others.map((o) => o.instanceId)).toEqual(
      nodes
        .map((n) => n.instanceId)
        .filter((x) => x !== id(survivor))
        .sort(),
    );
  });

  it("names the voters whose machine is gone, stamps the run, and is the same when planned again", () => {
    const members = [member(1), member(2), member(3), member(4), member(5)];
    const nodes = [node(1, st(1, 40)), node(2, st(2, 41)), node(6)];
    const p = planSurvivorRecovery({ nodes, members, at });
    expect(p).toMatchObject({
      kind: "recover",
      survivor: { instanceId: id(2), memberId: memberId(2) },
      others: [{ instanceId: id(1) }, { instanceId: id(6) }],
      lost: [id(3), id(4), id(5)],
      stamp: "20261126T093005Z",
    });
    expect(planSurvivorRecovery({ nodes: [...nodes].reverse(), members, at })).toEqual(p);
  });

  it("refuses two nodes with one address", () => {
    expect(() =>
      planSurvivorRecovery({
        nodes: [node(1, st(1, 1)), { ...node(2), ip: ip(1) }],
        members: [member(1)],
        at,
      }),
    ).toThrow(InvariantError);
  });
});

describe("recovery scripts", () => {
  const bashOk = (script: string) => execFileSync("bash", ["-n", "-c", script]);
  it("set aside moves the data dir (never rm) and is valid bash", () => {
    const s = setAsideScript("20261126T093005Z");
    bashOk(s);
    expect(s).toContain('mv "$ROOT/var/lib/etcd" "$ROOT/var/lib/etcd.before-recovery-20261126T093005Z"');
    expect(s).not.toMatch(/\brm\b/);
  });
  it("force keeps a copy, runs the flag once outside the settings file, then starts the unit", () => {
    const s = forceNewClusterScript("20261126T093005Z", "127.9.0.2");
    bashOk(s);
    expect(s).toContain(
      'cp -a "$ROOT/var/lib/etcd" "$ROOT/var/lib/etcd.before-recovery-20261126T093005Z.part"',
    );
    expect(s).toContain("exec etcd --force-new-cluster");
    expect(s).toContain('health="http://127.9.0.2:2379/health"');
    // A member whose settings name a certificate is asked over https with it.
    expect(s).toContain('health="https://127.9.0.2:2379/health"');
    // ...on its HTTP listener when its settings name one (decision 79), else on its client port.
    expect(s).toContain(
      '[ -n "$(setting ETCD_LISTEN_CLIENT_HTTP_URLS)" ] && health="https://127.9.0.2:2382/health"',
    );
    expect(s).toContain('--cert "$(setting ETCD_CERT_FILE)"');
    expect(s.indexOf("--force-new-cluster")).toBeLessThan(s.indexOf("systemctl start etcd-member.service"));
    expect(s).not.toMatch(/etcd\.env.*FORCE|\brm\b/);
  });
  it("refuses a stamp that could inject shell", () => {
    expect(() => setAsideScript("x; rm -rf /")).toThrow(InvariantError);
    expect(() => forceNewClusterScript("$(id)", "127.0.0.1")).toThrow(InvariantError);
  });
});
