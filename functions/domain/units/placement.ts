// The placement engine (pure): every unit of the catalog on nodes, honouring [X-Fleet] as fleet
// did, spread across zones then nodes, keeping existing placements where they are still valid.
import { describeMetadata, metadataMatches } from "./fleet.ts";
import { globToRegExp } from "./names.ts";
import type { UnitSpec } from "./catalog.ts";

export interface PlacementNode {
  id: string; // the instance id
  role: string;
  zone: string;
  healthy: boolean;
  /** Extra fleet metadata; `role` and `zone` are always present as metadata too. */
  metadata?: Record<string, string>;
  /** /etc/machine-id, when known; MachineID= matches it or the instance id. */
  machineId?: string;
}

/** unit name -> the node ids it runs on (one for ordinary units, every match for Global ones). */
export type Placement = Record<string, string[]>;

export interface Unplaceable {
  unit: string;
  reason: string;
}
export interface Move {
  unit: string;
  from: string[];
  to: string[];
}
export interface PlaceOptions {
  /** unit -> the only zone it may run in (its volumes are there). */
  zones?: Record<string, string>;
}

export interface PlacementResult {
  placement: Placement;
  unplaceable: Unplaceable[];
  /** Units whose node set changed (added, moved, removed). */
  moves: Move[];
}

interface U {
  spec: UnitSpec;
  depth: number;
  own: number[]; // pattern ids this unit declares (Conflicts, Replaces)
  matchedBy: number[]; // pattern ids that match this unit's name
  metaSig: number;
  group: number;
  nodes: number[];
}

/**
 * Place `units` on `nodes`. Deterministic: the same input gives the same output whatever the order
 * of `nodes`. Units already placed (in `current`) stay where they are while every rule still holds
 * there; the others go to the eligible node whose zone, then node, holds the fewest instances of the
 * same file, then the least loaded node, then the lowest id.
 */
export function placeUnits(
  nodesIn: PlacementNode[],
  units: UnitSpec[],
  current: Placement = {},
  opts: PlaceOptions = {},
): PlacementResult {
  const pinned = opts.zones ?? {};
  const nodes = nodesIn.filter((n) => n.healthy).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const nodeIndex = new Map(nodes.map((n, i) => [n.id, i]));
  const meta = nodes.map((n) => ({ ...n.metadata, role: n.role, zone: n.zone }));
  const zoneIds = new Map<string, number>();
  const zoneOf = nodes.map((n) => {
    if (!zoneIds.has(n.zone)) zoneIds.set(n.zone, zoneIds.size);
    return zoneIds.get(n.zone)!;
  });
  const N = nodes.length;

  // Patterns (Conflicts globs and Replaces names) and which unit names they match.
  const patternIds = new Map<string, number>();
  const patterns: RegExp[] = [];
  const pid = (p: string) => {
    let id = patternIds.get(p);
    if (id === undefined) {
      id = patterns.length;
      patternIds.set(p, id);
      patterns.push(globToRegExp(p));
    }
    return id;
  };
  const metaSigs = new Map<string, number>();
  const metaOk: Uint8Array[] = [];
  const groups = new Map<string, number>();
  const us: U[] = units.map((spec) => {
    const own = [...new Set([...spec.rules.conflicts, ...spec.rules.replaces].map(pid))];
    const sigKey = JSON.stringify(spec.rules.metadata);
    let metaSig = metaSigs.get(sigKey);
    if (metaSig === undefined) {
      metaSig = metaOk.length;
      metaSigs.set(sigKey, metaSig);
      metaOk.push(Uint8Array.from(meta, (m) => (metadataMatches(spec.rules.metadata, m) ? 1 : 0)));
    }
    if (!groups.has(spec.spreadGroup)) groups.set(spec.spreadGroup, groups.size);
    return { spec, depth: 0, own, matchedBy: [], metaSig, group: groups.get(spec.spreadGroup)!, nodes: [] };
  });
  const byName = new Map(us.map((u) => [u.spec.name, u]));
  for (let p = 0; p < patterns.length; p++)
    for (const u of us) if (patterns[p]!.test(u.spec.name)) u.matchedBy.push(p);
  const depthOf = (u: U, seen: Set<U>): number => {
    if (u.depth || !u.spec.rules.machineOf.length) return u.depth;
    if (seen.has(u)) return 0; // a cycle; the catalog refuses these
    seen.add(u);
    let d = 0;
    for (const t of u.spec.rules.machineOf) {
      const tu = byName.get(t);
      if (tu) d = Math.max(d, depthOf(tu, seen) + 1);
    }
    return (u.depth = d);
  };
  for (const u of us) depthOf(u, new Set());
  const order = us
    .map((u, i) => ({ u, i }))
    .sort(
      (a, b) =>
        a.u.depth - b.u.depth ||
        Number(!a.u.spec.rules.replaces.length) - Number(!b.u.spec.rules.replaces.length) ||
        a.i - b.i,
    )
    .map((x) => x.u);

  // Per-node state.
  const load = new Int32Array(N);
  // Per pattern and node: how many units there declare it / are matched by it (flat: p * N + n).
  const declared = new Int32Array(patterns.length * N);
  const matched = new Int32Array(patterns.length * N);
  const groupNode: Int32Array[] = Array.from({ length: groups.size }, () => new Int32Array(N));
  const groupZone: Int32Array[] = Array.from({ length: groups.size }, () => new Int32Array(zoneIds.size));
  const put = (u: U, n: number) => {
    u.nodes.push(n);
    load[n]!++;
    for (const p of u.own) declared[p * N + n]!++;
    for (const p of u.matchedBy) matched[p * N + n]!++;
    groupNode[u.group]![n]!++;
    groupZone[u.group]![zoneOf[n]!]!++;
  };
  const conflicts = (u: U, n: number) => {
    for (const p of u.own) if (matched[p * N + n]) return true;
    for (const p of u.matchedBy) if (declared[p * N + n]) return true;
    return false;
  };
  const machineOk = (u: U, n: number) => {
    const id = u.spec.rules.machineId;
    return id === undefined || nodes[n]!.id === id || nodes[n]!.machineId === id;
  };
  const zoneOk = (u: U, n: number) => {
    const z = pinned[u.spec.name];
    return z === undefined || nodes[n]!.zone === z;
  };
  const colocated = (u: U, n: number) =>
    u.spec.rules.machineOf.every((t) => byName.get(t)?.nodes.includes(n));

  const unplaceable: Unplaceable[] = [];
  // Global units first: every healthy node whose metadata matches.
  for (const u of order) {
    if (!u.spec.global) continue;
    const ok = metaOk[u.metaSig]!;
    for (let n = 0; n < N; n++) if (ok[n]) put(u, n);
    if (!u.nodes.length)
      unplaceable.push({
        unit: u.spec.name,
        reason: `Global: no healthy node matches MachineMetadata ${describeMetadata(u.spec.rules.metadata)}`,
      });
  }
  // Keep what may stay.
  for (const u of order) {
    if (u.spec.global) continue;
    for (const id of [...(current[u.spec.name] ?? [])].sort()) {
      const n = nodeIndex.get(id);
      if (
        n === undefined ||
        !metaOk[u.metaSig]![n] ||
        !machineOk(u, n) ||
        !zoneOk(u, n) ||
        !colocated(u, n) ||
        conflicts(u, n)
      )
        continue;
      put(u, n);
      break;
    }
  }
  // Place the rest.
  for (const u of order) {
    if (u.spec.global || u.nodes.length) continue;
    let candidates: number[] | undefined;
    if (u.spec.rules.machineOf.length) {
      const missing = u.spec.rules.machineOf.filter((t) => !byName.get(t)?.nodes.length);
      if (missing.length) {
        unplaceable.push({
          unit: u.spec.name,
          reason: `MachineOf target ${missing.join(", ")} is not placed`,
        });
        continue;
      }
      const sets = u.spec.rules.machineOf.map((t) => byName.get(t)!.nodes);
      candidates = sets[0]!.filter((n) => sets.every((s) => s.includes(n)));
      if (!candidates.length) {
        unplaceable.push({
          unit: u.spec.name,
          reason: `MachineOf targets ${u.spec.rules.machineOf.join(", ")} run on different nodes`,
        });
        continue;
      }
    } else if (u.spec.rules.machineId !== undefined) {
      candidates = [];
      for (let n = 0; n < N; n++) if (machineOk(u, n)) candidates.push(n);
      if (!candidates.length) {
        unplaceable.push({
          unit: u.spec.name,
          reason: `MachineID ${u.spec.rules.machineId} is not a healthy node`,
        });
        continue;
      }
    }
    const ok = metaOk[u.metaSig]!;
    const gz = groupZone[u.group]!;
    const gn = groupNode[u.group]!;
    let best = -1;
    let metaMiss = 0;
    let conflicted = 0;
    let otherZone = 0;
    const free = !u.own.length && !u.matchedBy.length;
    const count = candidates ? candidates.length : N;
    for (let k = 0; k < count; k++) {
      const n = candidates ? candidates[k]! : k;
      if (!ok[n]) {
        metaMiss++;
        continue;
      }
      if (!zoneOk(u, n)) {
        otherZone++;
        continue;
      }
      if (!free && conflicts(u, n)) {
        conflicted++;
        continue;
      }
      if (best < 0) {
        best = n;
        continue;
      }
      const dz = gz[zoneOf[n]!]! - gz[zoneOf[best]!]!;
      if (
        dz < 0 ||
        (dz === 0 &&
          (gn[n]! < gn[best]! ||
            (gn[n] === gn[best] && (load[n]! < load[best]! || (load[n] === load[best] && n < best)))))
      )
        best = n;
    }
    if (best >= 0) {
      put(u, best);
      continue;
    }
    const where = u.spec.rules.machineOf.length
      ? `the node(s) of ${u.spec.rules.machineOf.join(", ")}`
      : u.spec.rules.machineId
        ? `MachineID ${u.spec.rules.machineId}`
        : `${N} healthy node(s)`;
    const parts: string[] = [];
    if (otherZone)
      parts.push(
        `${otherZone} are outside zone ${pinned[u.spec.name]}, where its volumes are (move them to another zone: devcluster volume move <unit> --zone Z)`,
      );
    if (metaMiss)
      parts.push(`${metaMiss} do not match MachineMetadata ${describeMetadata(u.spec.rules.metadata)}`);
    if (conflicted)
      parts.push(
        `${conflicted} already run a conflicting unit (Conflicts/Replaces ${u.spec.rules.conflicts.concat(u.spec.rules.replaces).join(" ") || "of another unit"})`,
      );
    unplaceable.push({
      unit: u.spec.name,
      reason: count === 0 ? "no healthy nodes" : `no eligible node among ${where}: ${parts.join("; ")}`,
    });
  }

  const placement: Placement = {};
  const moves: Move[] = [];
  for (const u of us) {
    const to = u.nodes.map((n) => nodes[n]!.id).sort();
    if (to.length) placement[u.spec.name] = to;
    const from = [...(current[u.spec.name] ?? [])].sort();
    if (from.join() !== to.join()) moves.push({ unit: u.spec.name, from, to });
  }
  for (const name of Object.keys(current).sort()) {
    if (!byName.has(name) && current[name]!.length)
      moves.push({ unit: name, from: [...current[name]!].sort(), to: [] });
  }
  return { placement, unplaceable, moves };
}

/** node id -> the units placed on it (sorted). */
export function unitsByNode(p: Placement): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [unit, nodes] of Object.entries(p))
    for (const n of nodes) out.set(n, [...(out.get(n) ?? []), unit]);
  for (const v of out.values()) v.sort();
  return out;
}
