// The operator's read model of a cluster: machines, etcd members, units, services, volumes and
// snapshots, built from what the groups, etcd and the snapshot bucket say. Pure: the `status`
// function computes it from its ports, locally and on AWS alike, so both print the same thing.
import type { GroupInfo, InstanceInfo, NodeRecord, Role } from "./model.ts";
import type { Placement } from "./units/placement.ts";
import type { PublishedUnitState } from "./unitStates.ts";

export interface MachineView {
  id: string;
  role: Role;
  group: string;
  zone: string;
  address: string;
  publicAddress: string;
  /** The group's lifecycle state (InService, Pending:Wait, Terminating:Wait, ...). */
  lifecycle: string;
  /** Auto Scaling's health (Healthy, Unhealthy). */
  health: string;
  /** The registry's state (joining, active, leaving, gone), "" when the node is not registered. */
  registry: string;
  /** The etcd member on this machine, "" when it runs none. */
  member: string;
  /** Units placed on this machine. */
  units: string[];
  /**
   * What the machine publishes of its units (unitStates.ts): every unit it was pushed or has
   * enabled, with systemd's state; null when it publishes nothing (down, not booted, or etcd
   * unreadable).
   */
  unitStates: PublishedUnitState[] | null;
}

export interface MemberView {
  id: string;
  name: string;
  peerUrl: string;
  clientUrl: string;
  learner: boolean;
  healthy: boolean;
  /** The machine whose private address the member's peer URL names, "" when none does. */
  machine: string;
}

export interface UnitView {
  name: string;
  /** The machines the placement put it on (several for a Global unit, none when unplaceable). */
  machines: string[];
}

export interface ServiceInstanceView {
  id: string;
  machine: string;
  address: string;
  port: number;
}
export interface ServiceView {
  name: string;
  instances: ServiceInstanceView[];
}

export interface VolumeView {
  id: string;
  /** The service, unit instance and volume name it was created for (its tags). */
  service: string;
  instance: string;
  volume: string;
  zone: string;
  sizeGiB: number;
  /** EC2's state: creating, available, in-use, ... */
  state: string;
  /** The machine it is attached to, "" when none. */
  machine: string;
  /** Set when the volume was retired (kept for safety, never used again). */
  retired: string;
  /** Its service volume's newest completed snapshot, "" when none. */
  lastSnapshot: string;
}

export interface SnapshotView {
  id: string;
  completedAt: string;
  revision: number;
  keys: number;
  bytes: number;
}

export interface ClusterView {
  cluster: string;
  /** When the view was read (ISO time). */
  at: string;
  machines: MachineView[];
  etcd: { reachable: boolean; members: MemberView[] };
  units: UnitView[];
  services: ServiceView[];
  volumes: VolumeView[];
  snapshots: SnapshotView[];
  /** What could not be read, one line each (the rest of the view is still true). */
  problems: string[];
}

/** An etcd member as read for the view: the member list and each member's own /health. */
export interface ObservedMember {
  id: string;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  isLearner: boolean;
  healthy: boolean;
}

/** A presence record: `/services/<name>/instances/<id>` (JSON written by the presence program). */
export interface ObservedServiceInstance {
  service: string;
  id: string;
  node: string;
  address: string;
  port: number;
}

export interface ViewInput {
  cluster: string;
  at: Date;
  groups: GroupInfo[];
  instances: InstanceInfo[];
  /** null: no etcd member answered. */
  members: ObservedMember[] | null;
  registry: NodeRecord[];
  placement: Placement;
  services: ObservedServiceInstance[];
  /** Each machine's published unit states, by instance id. */
  unitStates: Map<string, PublishedUnitState[]>;
  volumes: VolumeView[];
  snapshots: SnapshotView[];
  problems: string[];
}

const ROLE_ORDER: Record<string, number> = { main: 0, worker: 1, data: 2 };
const byId = <T extends { id: string }>(a: T, b: T) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const hostOf = (url: string) => {
  try {
    return new URL(url).hostname;
  } catch {
    return "";
  }
};

/** The view, sorted so that two reads of the same cluster print the same lines. */
export function buildClusterView(input: ViewInput): ClusterView {
  const instances = new Map(input.instances.map((i) => [i.instanceId, i]));
  const registry = new Map(input.registry.map((r) => [r.instanceId, r]));
  const unitsOn = new Map<string, string[]>();
  for (const [unit, nodes] of Object.entries(input.placement)) {
    for (const n of nodes) unitsOn.set(n, [...(unitsOn.get(n) ?? []), unit]);
  }
  const machineByIp = new Map<string, string>();
  const machines: MachineView[] = input.groups
    .flatMap((g) =>
      g.members.map((m) => {
        const i = instances.get(m.instanceId);
        const address = i?.privateIp ?? registry.get(m.instanceId)?.privateIp ?? "";
        if (address) machineByIp.set(address, m.instanceId);
        return {
          id: m.instanceId,
          role: g.role,
          group: g.name,
          zone: m.zone || i?.zone || "",
          address,
          publicAddress: i?.publicIp ?? "",
          lifecycle: m.lifecycleState,
          health: m.healthStatus,
          registry: registry.get(m.instanceId)?.state ?? "",
          member: "",
          units: (unitsOn.get(m.instanceId) ?? []).sort(),
          unitStates: input.unitStates.get(m.instanceId) ?? null,
        };
      }),
    )
    .sort((a, b) => (ROLE_ORDER[a.role] ?? 9) - (ROLE_ORDER[b.role] ?? 9) || byId(a, b));
  const members: MemberView[] = (input.members ?? [])
    .map((m) => {
      const peerUrl = m.peerUrls[0] ?? "";
      return {
        id: m.id,
        name: m.name,
        peerUrl,
        clientUrl: m.clientUrls[0] ?? "",
        learner: m.isLearner,
        healthy: m.healthy,
        machine: machineByIp.get(hostOf(peerUrl)) ?? "",
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name) || byId(a, b));
  for (const m of members) {
    const machine = machines.find((x) => x.id === m.machine);
    if (machine) machine.member = m.id;
  }
  const services = new Map<string, ServiceView>();
  for (const s of input.services) {
    const svc = services.get(s.service) ?? { name: s.service, instances: [] };
    services.set(s.service, svc);
    svc.instances.push({ id: s.id, machine: s.node, address: s.address, port: s.port });
  }
  return {
    cluster: input.cluster,
    at: input.at.toISOString(),
    machines,
    etcd: { reachable: input.members !== null, members },
    units: Object.entries(input.placement)
      .map(([name, nodes]) => ({ name, machines: [...nodes].sort() }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    services: [...services.values()]
      .map((s) => ({ ...s, instances: s.instances.sort(byId) }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    volumes: [...input.volumes].sort(byId),
    snapshots: [...input.snapshots].sort((a, b) => (a.id < b.id ? 1 : -1)),
    problems: input.problems,
  };
}

/** The machines a unit is placed on (none for a unit the placement does not know). */
export function machinesOfUnit(view: ClusterView, unit: string): string[] {
  return view.units.find((u) => u.name === unit)?.machines ?? [];
}
