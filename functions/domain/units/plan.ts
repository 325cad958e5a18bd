// One units decision (pure): observed nodes + catalog + stored placement -> new placement, the
// per-node pushes and the command requests, and the state to store once they are applied.
import type { NodeRecord } from "../model.ts";
import type { CommandRequest } from "../commands.ts";
import type { Catalog } from "./catalog.ts";
import { placeUnits, type Placement, type PlacementNode, type PlacementResult } from "./placement.ts";
import {
  catalogHashes,
  parsePushResults,
  planPush,
  pushRequests,
  type NodeMount,
  type NodePush,
  type NodePushResult,
  type PlacementState,
} from "./push.ts";

/** The stored document at /cluster/placement. `pending`: nodes whose last push failed (pushed again next time). */
export interface StoredPlacement extends PlacementState {
  pending: string[];
  updatedAt: string;
}

export const EMPTY_PLACEMENT: StoredPlacement = { placement: {}, files: {}, pending: [], updatedAt: "" };

/** A registry entry as placement sees it: joining and active nodes can run units. */
export function placementNode(r: NodeRecord): PlacementNode {
  return {
    id: r.instanceId,
    role: r.role,
    zone: r.zone,
    healthy: r.state === "joining" || r.state === "active",
  };
}

export interface UnitsPlan {
  result: PlacementResult;
  pushes: NodePush[];
  requests: CommandRequest[];
  /** What to store if every push succeeds (see `stateAfterPush` otherwise). */
  next: StoredPlacement;
}

export interface PlanUnitsInput {
  catalog: Catalog;
  nodes: NodeRecord[] | PlacementNode[];
  state: StoredPlacement;
  /** A node that is launching: counted healthy whatever its registry state. */
  launching?: string;
  /** A node that is terminating: its units are re-placed elsewhere and nothing is sent to it. */
  terminating?: string;
  /** Push every healthy node its full set even if nothing changed (reconcile's drift repair). */
  force?: boolean;
  /** unit -> the zone its volumes hold it to (`volumeZones`). */
  zones?: Record<string, string>;
  /**
   * Units placed but not to be started on their node yet (a volume of theirs is not attached there):
   * they stay in the stored placement, their node is left pending, and the push leaves them out.
   */
  hold?: string[];
  /** unit -> the volumes its node mounts before starting it (attached there). */
  mounts?: Record<string, NodeMount[]>;
  now?: string;
}

/** The placement without the held units (what the nodes are told to run now). */
export function withoutHeld(placement: Placement, hold: string[] = []): Placement {
  if (!hold.length) return placement;
  const held = new Set(hold);
  return Object.fromEntries(Object.entries(placement).filter(([u]) => !held.has(u)));
}

export interface PushPlanInput {
  catalog: Catalog;
  nodes: PlacementNode[];
  state: PlacementState;
  /** What the nodes should run (held units already left out). */
  placement: Placement;
  force: boolean | string[];
  mounts?: Record<string, NodeMount[]>;
}

/**
 * The per-node pushes and their command requests for a placement. Main nodes run etcd: each gets a
 * command of its own, after the others, so one push (or one bad catalog) never reaches every member
 * at once; workers and data nodes share batched commands.
 */
export function planPushes(input: PushPlanInput): { pushes: NodePush[]; requests: CommandRequest[] } {
  const reachable = input.nodes.filter((n) => n.healthy).map((n) => n.id);
  const pushes = planPush(input.state, input.placement, input.catalog, {
    nodes: reachable,
    force: input.force,
  });
  for (const p of pushes) {
    const mounts = p.units.flatMap((u) => input.mounts?.[u] ?? []);
    if (mounts.length) p.mounts = mounts;
  }
  const isMain = new Set(input.nodes.filter((n) => n.role === "main").map((n) => n.id));
  const others = pushes.filter((p) => !isMain.has(p.nodeId));
  const mains = pushes.filter((p) => isMain.has(p.nodeId));
  const comment = `devcluster units: ${pushes.length} node(s)`;
  const requests = [
    ...(others.length ? pushRequests(others, input.catalog, { comment }) : []),
    ...mains.flatMap((p) => pushRequests([p], input.catalog, { comment })),
  ];
  return { pushes, requests };
}

/** The nodes as placement sees them, with the launching node counted in and the terminating one out. */
export function placementNodes(
  input: Pick<PlanUnitsInput, "nodes" | "launching" | "terminating">,
): PlacementNode[] {
  return input.nodes.map((n) => {
    const p = "instanceId" in n ? placementNode(n) : { ...n };
    if (p.id === input.launching) p.healthy = true;
    if (p.id === input.terminating) p.healthy = false;
    return p;
  });
}

export function planUnits(input: PlanUnitsInput): UnitsPlan {
  const nodes = placementNodes(input);
  const result = placeUnits(nodes, input.catalog.units, input.state.placement, {
    zones: input.zones ?? {},
  });
  const reachable = nodes.filter((n) => n.healthy).map((n) => n.id);
  const force = input.force ? true : input.state.pending.filter((id) => reachable.includes(id));
  const { pushes, requests } = planPushes({
    catalog: input.catalog,
    nodes,
    state: input.state,
    placement: withoutHeld(result.placement, input.hold),
    force,
    ...(input.mounts ? { mounts: input.mounts } : {}),
  });
  // A held unit's node is pushed again next time, when its volume may have come free.
  const heldOn = (input.hold ?? []).flatMap((u) => result.placement[u] ?? []);
  const next: StoredPlacement = {
    placement: result.placement,
    files: catalogHashes(input.catalog),
    pending: [...new Set(heldOn)].sort(),
    updatedAt: input.now ?? new Date().toISOString(),
  };
  return { result, pushes, requests, next };
}

/** The state to store after a push: nodes whose push failed are pushed again next time. */
export function stateAfterPush(plan: UnitsPlan, results: NodePushResult[]): StoredPlacement {
  const failed = results.filter((r) => !r.ok).map((r) => r.instanceId);
  const missing = plan.pushes.map((p) => p.nodeId).filter((id) => !results.some((r) => r.instanceId === id));
  return { ...plan.next, pending: [...new Set([...plan.next.pending, ...failed, ...missing])].sort() };
}

export { parsePushResults };
