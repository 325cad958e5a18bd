// The `status` function's use case: read the whole cluster (groups, etcd members and their health,
// the registry, unit placement, the unit states nodes publish, announced services, volumes, valid
// snapshots) into the operator's
// view. Read-only: nothing here writes to etcd, the groups or the bucket. A part that cannot be read
// is named in `problems` and the rest of the view is still returned.
import {
  buildClusterView,
  type ClusterView,
  type ObservedMember,
  type ViewInput,
} from "../domain/clusterView.ts";
import type { GroupInfo, InstanceInfo, NodeRecord } from "../domain/model.ts";
import { validSnapshots, type SnapshotLayout } from "../domain/snapshots.ts";
import type { Placement } from "../domain/units/placement.ts";
import type { ClusterStore } from "../ports/cluster.ts";
import type { ServiceDirectory, UnitStatesDirectory } from "../ports/clusterView.ts";
import type { PublishedUnitState } from "../domain/unitStates.ts";
import type { VolumeSnapshots, Volumes } from "../ports/volumes.ts";
import { latestSnapshot } from "../domain/volumeSnapshots.ts";
import type { Groups } from "../ports/index.ts";
import type { Logger } from "../ports/log.ts";
import type { SnapshotStore } from "../ports/snapshots.ts";
import type { PlacementStore } from "../ports/units.ts";
import { endpointsOf } from "./observe.ts";

type MaybePromise<T> = T | Promise<T>;

export interface StatusDeps {
  clusterName: string;
  groupNames: { main: string; worker: string; data: string };
  groups: Groups;
  /** The members serve TLS (config `ETCD_TLS`): https endpoints. Absent: plain. */
  etcdTls?: boolean | undefined;
  /**
   * The cluster store and what else is read from etcd over these endpoints (kept across warm
   * invocations; async: https endpoints need the control plane's certificate first).
   */
  etcd: (endpoints: string[]) => MaybePromise<{
    store: ClusterStore;
    services: ServiceDirectory;
    placement: PlacementStore;
    unitStates: UnitStatesDirectory;
  }>;
  snapshots: SnapshotStore;
  layout: SnapshotLayout;
  volumes: Pick<Volumes, "list">;
  /** The snapshots of the cluster's service volumes (each volume's newest completed one is shown). */
  volumeSnapshots: Pick<VolumeSnapshots, "list">;
  now: () => Date;
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

export async function readClusterView(deps: StatusDeps, log: Logger): Promise<ClusterView> {
  const problems: string[] = [];
  const attempt = async <T>(what: string, fallback: T, read: () => Promise<T>): Promise<T> => {
    try {
      return await read();
    } catch (e) {
      problems.push(`${what}: ${message(e)}`);
      log.warn("status: part not read", { part: what, error: message(e) });
      return fallback;
    }
  };
  const names = Object.values(deps.groupNames);
  const groups = await attempt<GroupInfo[]>("groups", [], () => deps.groups.describeGroups(names));
  const ids = groups.flatMap((g) => g.members.map((m) => m.instanceId));
  const instances = await attempt<InstanceInfo[]>("instances", [], () => deps.groups.describeInstances(ids));
  const byId = new Map(instances.map((i) => [i.instanceId, i]));
  const main = groups.find((g) => g.name === deps.groupNames.main);
  const endpoints = endpointsOf(
    {
      instances: (main?.members ?? [])
        .filter((m) => byId.get(m.instanceId)?.privateIp)
        .map((m) => ({
          instanceId: m.instanceId,
          ip: byId.get(m.instanceId)!.privateIp,
          lifecycleState: m.lifecycleState,
        })),
    },
    [],
    deps.etcdTls,
  );
  const etcd = await deps.etcd(endpoints);
  const { store } = etcd;

  const readMembers = async (): Promise<ObservedMember[] | null> => {
    const list = await store.memberList();
    if (!list) return null;
    const healthy = await store.healthyMembers(list);
    return list.map((m) => ({ ...m, healthy: healthy.has(m.id) }));
  };
  const [members, registry, placement, services, unitStates, volumes, snapshots] = await Promise.all([
    attempt<ObservedMember[] | null>("etcd members", null, readMembers),
    attempt<NodeRecord[]>("registry", [], async () => (await store.listNodes()).nodes),
    attempt<Placement>("placement", {}, async () => (await etcd.placement.load()).state.placement),
    attempt("services", [], () => etcd.services.instances()),
    attempt("unit states", new Map<string, PublishedUnitState[]>(), () => etcd.unitStates.byMachine()),
    attempt("volumes", [], async () => {
      const [list, snaps] = await Promise.all([deps.volumes.list(), deps.volumeSnapshots.list()]);
      return list.map((v) => ({
        id: v.id,
        service: v.service,
        instance: v.instance,
        volume: v.volume,
        zone: v.zone,
        sizeGiB: v.sizeGiB,
        state: v.state,
        machine: v.attachedTo ?? "",
        retired: v.retired ?? "",
        lastSnapshot: latestSnapshot(snaps, v)?.id ?? "",
      }));
    }),
    attempt("snapshots", [], async () =>
      validSnapshots(deps.layout, await deps.snapshots.list()).map((o) => ({
        id: o.id,
        completedAt: o.manifest!.completedAt,
        revision: o.manifest!.revision,
        keys: o.manifest!.keyCount,
        bytes: o.manifest!.size,
      })),
    ),
  ]);
  if (members === null && !problems.some((p) => p.startsWith("etcd members")))
    problems.push(`etcd members: no member answered (${endpoints.length} endpoints asked)`);
  const input: ViewInput = {
    cluster: deps.clusterName,
    at: deps.now(),
    groups,
    instances,
    members,
    registry,
    placement,
    services,
    unitStates,
    volumes,
    snapshots,
    problems,
  };
  return buildClusterView(input);
}
