// The status function's read model from hand-built ports: machines joined with the registry, the
// members and the placement; a part that cannot be read is named and the rest is still returned.
import { describe, expect, it } from "vitest";
import { readClusterView, type StatusDeps } from "../../../functions/operations/status.ts";
import type { ClusterStore } from "../../../functions/ports/cluster.ts";
import type { GroupInfo, InstanceInfo, NodeRecord } from "../../../functions/domain/model.ts";
import { createLogger } from "../../../functions/runtime/log.ts";

const groups: GroupInfo[] = [
  {
    name: "w",
    role: "worker",
    desired: 1,
    min: 0,
    max: 5,
    members: [{ instanceId: "i-w1", lifecycleState: "InService", healthStatus: "Healthy", zone: "z-b" }],
  },
  {
    name: "m",
    role: "main",
    desired: 1,
    min: 1,
    max: 1,
    members: [{ instanceId: "i-m1", lifecycleState: "InService", healthStatus: "Healthy", zone: "z-a" }],
  },
];
const instances: InstanceInfo[] = [
  { instanceId: "i-m1", privateIp: "10.0.0.1", zone: "z-a", state: "running" },
  { instanceId: "i-w1", privateIp: "10.0.0.2", zone: "z-b", state: "running" },
];
const registry: NodeRecord[] = [
  {
    instanceId: "i-m1",
    role: "main",
    group: "m",
    zone: "z-a",
    privateIp: "10.0.0.1",
    state: "active",
    updatedAt: "",
  },
];

function deps(
  over: Partial<StatusDeps> = {},
  memberList: ClusterStore["memberList"] | undefined = undefined,
) {
  const asked: string[][] = [];
  const store = {
    memberList:
      memberList ??
      (async () => [
        {
          id: "11",
          name: "i-m1",
          peerUrls: ["http://10.0.0.1:2380"],
          clientUrls: ["http://10.0.0.1:2379"],
          isLearner: false,
        },
      ]),
    healthyMembers: async () => new Set(["11"]),
    listNodes: async () => ({ nodes: registry, revision: "5" }),
  } as unknown as ClusterStore;
  const d: StatusDeps = {
    clusterName: "dev",
    groupNames: { main: "m", worker: "w", data: "d" },
    groups: { describeGroups: async () => groups, describeInstances: async () => instances },
    etcd: (endpoints) => ({
      store: (asked.push(endpoints), store),
      services: {
        instances: async () => [{ service: "hello", id: "1", node: "i-w1", address: "10.0.0.2", port: 8080 }],
      },
      placement: {
        load: async () => ({
          state: {
            placement: { "hello@1.service": ["i-w1"], "etcd-member.service": ["i-m1"] },
            files: {},
            pending: [],
            updatedAt: "",
          },
          revision: "3",
        }),
        save: async () => false,
      },
      unitStates: {
        byMachine: async () =>
          new Map([["i-w1", [{ unit: "hello@1.service", state: "failed", enabled: true }]]]),
      },
    }),
    snapshots: { list: async () => [] } as unknown as StatusDeps["snapshots"],
    layout: { prefix: "etcd-snapshots/", cluster: "dev" },
    volumes: { list: async () => [] },
    volumeSnapshots: { list: async () => [] },
    now: () => new Date("2026-01-01T00:00:00Z"),
    ...over,
  };
  return { d, asked };
}

const log = createLogger({}, () => {});

describe("readClusterView", () => {
  it("joins machines with the registry, their etcd member and their units, main first", async () => {
    const { d, asked } = deps();
    const v = await readClusterView(d, log);
    // etcd is reached through the main group's addresses only.
    expect(asked).toEqual([["http://10.0.0.1:2379"]]);
    expect(v.machines.map((m) => [m.id, m.role, m.registry, m.member, m.units])).toEqual([
      ["i-m1", "main", "active", "11", ["etcd-member.service"]],
      ["i-w1", "worker", "", "", ["hello@1.service"]],
    ]);
    // What each node published of its units; null for a node that published nothing.
    expect(v.machines.map((m) => m.unitStates)).toEqual([
      null,
      [{ unit: "hello@1.service", state: "failed", enabled: true }],
    ]);
    expect(v.etcd).toEqual({
      reachable: true,
      members: [
        {
          id: "11",
          name: "i-m1",
          peerUrl: "http://10.0.0.1:2380",
          clientUrl: "http://10.0.0.1:2379",
          learner: false,
          healthy: true,
          machine: "i-m1",
        },
      ],
    });
    expect(v.units).toEqual([
      { name: "etcd-member.service", machines: ["i-m1"] },
      { name: "hello@1.service", machines: ["i-w1"] },
    ]);
    expect(v.services).toEqual([
      { name: "hello", instances: [{ id: "1", machine: "i-w1", address: "10.0.0.2", port: 8080 }] },
    ]);
    expect(v.problems).toEqual([]);
  });

  it("when etcd does not answer, it says so and still lists the machines", async () => {
    const { d } = deps({}, async () => null);
    const v = await readClusterView(d, log);
    expect(v.etcd).toEqual({ reachable: false, members: [] });
    expect(v.machines).toHaveLength(2);
    expect(v.problems).toEqual(["etcd members: no member answered (1 endpoints asked)"]);
  });

  it("when a part fails, it is named in problems and the other parts are returned", async () => {
    const { d } = deps({ volumes: { list: async () => Promise.reject(new Error("AccessDenied")) } });
    const v = await readClusterView(d, log);
    expect(v.problems).toEqual(["volumes: AccessDenied"]);
    expect(v.volumes).toEqual([]);
    expect(v.units).toHaveLength(2);
  });
});
