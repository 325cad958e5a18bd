// Which lifecycle events the cluster acts on: its own groups, the instance where the event says it
// is, in a state the event agrees with, carrying the cluster tag; everything else is refused.
import { describe, expect, it } from "vitest";
import { checkLifecycleEvent } from "../../../functions/domain/eventTrust.ts";
import type { GroupInfo, Role } from "../../../functions/domain/model.ts";

const ours: Record<Role, string> = { main: "c-main", worker: "c-worker", data: "c-data" };
const group = (role: Role, members: [string, string][]): GroupInfo => ({
  name: ours[role],
  role,
  desired: members.length,
  min: 0,
  max: 9,
  members: members.map(([instanceId, lifecycleState]) => ({
    instanceId,
    lifecycleState,
    healthStatus: "Healthy",
    zone: "us-east-1a",
  })),
});
const M = "i-0000000000000000a";
const W = "i-0000000000000000b";
const groups = (mState = "InService", wState = "Pending:Wait") => [
  group("main", [[M, mState]]),
  group("worker", [[W, wState]]),
  group("data", []),
];
const instance = (id: string, clusterTag: string | null = "c") => ({
  instanceId: id,
  privateIp: "127.0.0.9",
  zone: "us-east-1a",
  state: "running",
  clusterTag: clusterTag ?? undefined,
});
const check = (over: Partial<Parameters<typeof checkLifecycleEvent>[0]>) =>
  checkLifecycleEvent({
    kind: "launch",
    instanceId: W,
    groupName: ours.worker,
    clusterName: "c",
    ourGroups: ours,
    groups: groups(),
    instance: instance(W),
    ...over,
  });

describe("checkLifecycleEvent", () => {
  it.each([
    ["a launch in Pending:Wait", {}],
    ["a late duplicate launch (InService)", { groups: groups("InService", "InService") }],
    [
      "a launch of a listed instance EC2 does not describe yet (the launch's own NotFound)",
      { instance: undefined },
    ],
    [
      "a terminate in Terminating:Wait",
      { kind: "terminate" as const, groups: groups("InService", "Terminating:Wait") },
    ],
    [
      "a terminate of an instance the group lists no more",
      { kind: "terminate" as const, groups: groups("InService", "x").slice(0, 1) },
    ],
    [
      "a terminate the registry agrees with",
      { kind: "terminate" as const, groups: [group("main", [])], registered: { role: "worker" as const } },
    ],
  ])("accepts %s", (_, over) => {
    expect(check(over)).toEqual({ ok: true });
  });

  it.each([
    [
      "a group of another cluster",
      { groupName: "other-worker" },
      /group other-worker is not one of this cluster's groups \(c-main, c-worker, c-data\)/,
    ],
    [
      "a launch naming the worker group for a main instance",
      { instanceId: M, instance: instance(M) },
      /instance i-0000000000000000a is in group c-main, not c-worker/,
    ],
    [
      "a terminate naming the worker group for a main instance",
      { kind: "terminate" as const, instanceId: M },
      /is in group c-main, not c-worker/,
    ],
    [
      "a terminate of a healthy instance",
      { kind: "terminate" as const, groups: groups("InService", "InService") },
      /is InService in c-worker: no termination is under way/,
    ],
    [
      "a launch of an instance in no group",
      { instanceId: "i-0000000000000000c", instance: instance("i-0000000000000000c") },
      /is not in group c-worker/,
    ],
    [
      "a launch of a terminating instance",
      { groups: groups("InService", "Terminating:Wait") },
      /is Terminating:Wait in c-worker, not launching/,
    ],
    [
      "a launch without the cluster tag",
      { instance: instance(W, null) },
      /does not carry devcluster:cluster=c \(no tag\)/,
    ],
    [
      "a launch with another cluster's tag",
      { instance: instance(W, "other") },
      /devcluster:cluster=c \(got other\)/,
    ],
    [
      "a terminate the registry contradicts (registered main, named worker)",
      { kind: "terminate" as const, groups: [group("main", [])], registered: { role: "main" as const } },
      /registered as a main node, not worker \(c-worker\)/,
    ],
  ])("refuses %s", (_, over, reason) => {
    const v = check(over);
    expect(v.ok).toBe(false);
    expect(v.ok ? "" : v.reason).toMatch(reason);
  });
});
