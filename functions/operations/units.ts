// Units sync (the `units` function, the lifecycle hook, reconcile): load the catalog, observe the nodes, re-place
// the units, push only what changed, store the placement (compare-and-swap), report.
import { z } from "zod";
import { DevclusterError, InvalidInputError, RefusedError } from "../domain/errors.ts";
import { parseUnitName, templateOf } from "../domain/units/names.ts";
import type { Logger } from "../ports/log.ts";
import { loadCatalog, type Catalog, type CatalogSource } from "../domain/units/catalog.ts";
import { parsePushResults, type NodePushResult } from "../domain/units/push.ts";
import {
  planPushes,
  placementNodes,
  planUnits,
  stateAfterPush,
  withoutHeld,
  type PlanUnitsInput,
  type UnitsPlan,
} from "../domain/units/plan.ts";
import { unitOfVolumes, type VolumeAction } from "../domain/volumeAttachments.ts";
import type { Unplaceable, Move, Placement } from "../domain/units/placement.ts";
import type { Commands } from "../ports/index.ts";
import type { NodeAccessStore, NodeSource, PlacementStore, PublishedImages } from "../ports/units.ts";
import { announcedByNode, nodeAccess } from "../domain/etcdAccess.ts";
import { renderCatalogImages } from "../domain/images.ts";
import { parseInput } from "../domain/input.ts";
import {
  planVolumeCreates,
  volumeNeeds,
  type VolumeNeed,
  volumeZones,
  type VolumeCreate,
  type VolumeRecord,
} from "../domain/volumes.ts";
import type { VolumeAccess, VolumeSnapshots } from "../ports/volumes.ts";
import { runVolumeEvent, type SnapshotRunReport, type SwapReport } from "./volumeSnapshots.ts";
import { ensureVolumes, fenceVolumes } from "./volumes.ts";

export interface UnitsDeps {
  nodes: NodeSource;
  placements: PlacementStore;
  commands: Commands;
  /** The repository catalog (file name -> text), used when the event brings none. */
  catalog: () => CatalogSource | Promise<CatalogSource>;
  /** Image references `{{image:<name>}}` renders to; absent: every placeholder renders as missing. */
  images?: PublishedImages;
  /** The cluster's service volumes: needed once a unit declares `Volume=`. */
  volumes?: VolumeAccess;
  /** Their snapshots and swaps (the `volume` event: snapshot, restore, move); the cluster's name. */
  volumeSnapshots?: { store: VolumeSnapshots; cluster: string };
  /**
   * etcd users and roles: before a push, each node it reaches gets the role its new placement needs
   * (every node on a forced sync); a terminating node loses its own. Absent: roles are not kept.
   */
  access?: NodeAccessStore;
  /**
   * Runs a sync while holding the units lock, the one lifecycle and reconcile take (runtime wiring:
   * a lease in etcd). Absent: the caller serialises (the hooks hold the lock already).
   */
  exclusive?: <T>(fn: () => Promise<T>) => Promise<T>;
  log: Logger;
}

export const UnitsEventSchema = z
  .object({
    /** A whole catalog (file name -> unit file text) instead of the repository's. Every key must be a
     * unit file name systemd accepts (so `__proto__` and the like are refused, not read as empty). */
    catalog: z
      .record(
        z.string().refine((k) => parseUnitName(k) !== undefined, { message: "not a unit file name" }),
        z.string(),
      )
      .optional(),
    /** Stop units on main nodes that the catalog no longer has (etcd's own included). */
    confirm: z.boolean().optional(),
    dryRun: z.boolean().optional(),
    /** Push every node its full unit set, changed or not (drift repair). */
    force: z.boolean().optional(),
  })
  .strict();

export interface UnitsReport {
  dryRun: boolean;
  nodes: number;
  units: number;
  placement: Placement;
  moves: Move[];
  unplaceable: Unplaceable[];
  /** Each node pushed: why, its whole unit set, and the difference (units started, stopped; files changed). */
  pushed: {
    nodeId: string;
    reasons: string[];
    units: string[];
    start: string[];
    stop: string[];
    changed: string[];
  }[];
  results: NodePushResult[];
  failed: string[];
  commands: number;
  saved: boolean;
  attempts: number;
  /** Images units name but nobody published (file -> names): those units fail on their nodes. */
  missingImages: Record<string, string[]>;
  /** Units on main nodes the catalog no longer has (`unit on node`): pushed only with `confirm`. */
  mainRemovals: string[];
  /** Units held to the zone of their volumes (unit -> zone). */
  volumeZones: Record<string, string>;
  /** Volumes this placement needs and that do not exist yet (a dry run only lists them). */
  volumesToCreate: VolumeCreate[];
  /** Volumes this run created. */
  volumesCreated: VolumeRecord[];
  /** Volumes this run detached and attached (each waited for until EC2 settled it). */
  volumeActions: VolumeAction[];
  /** Placed units not started on their node yet because a volume is not there, with why. */
  held: { unit: string; reason: string }[];
}

export interface SyncOptions {
  catalog?: CatalogSource;
  dryRun?: boolean;
  force?: boolean;
  /** Count this node in even if the registry does not list it as joining/active yet. */
  launching?: string;
  /** Re-place this node's units elsewhere; nothing is sent to it. */
  terminating?: string;
  /** Compare-and-swap attempts when another run stores a placement meanwhile (default 3). */
  attempts?: number;
  /** Stop units on main nodes that the catalog no longer has. */
  confirm?: boolean;
}

/**
 * Load, plan, push, store. Used by the `units` handler and by lifecycle/reconcile (with
 * `launching`/`terminating`). An invalid catalog throws InvalidInputError before anything is sent.
 * When another run stored a placement meanwhile, the work is re-planned from the new state (the
 * pushes are desired-state scripts, so applying again is harmless).
 */
export async function syncUnits(deps: UnitsDeps, opts: SyncOptions = {}): Promise<UnitsReport> {
  const log = deps.log;
  const [source, images] = await Promise.all([opts.catalog ?? deps.catalog(), deps.images?.load() ?? {}]);
  const rendered = renderCatalogImages(source, images);
  for (const [file, names] of Object.entries(rendered.missing))
    log.warn("units: image not published", { file, images: names });
  const catalog: Catalog = loadCatalog(rendered.source);
  const needs = volumeNeeds(catalog.units);
  if (needs.length && !deps.volumes)
    throw new DevclusterError("units: the catalog declares volumes but this sync has no access to volumes");
  const maxAttempts = opts.attempts ?? 3;
  for (let attempt = 1; ; attempt++) {
    const [records, stored, volumes] = await Promise.all([
      deps.nodes.listNodes(),
      deps.placements.load(),
      needs.length ? deps.volumes!.store.list() : Promise.resolve([]),
    ]);
    const pinned = volumeZones(needs, volumes);
    // A unit whose volumes ended up in two zones can run in neither until they are moved together.
    const zones = { ...pinned.zones };
    for (const s of pinned.split) zones[s.unit] = s.zones.join("+");
    const input: PlanUnitsInput = { catalog, nodes: records, state: stored.state, zones };
    if (opts.force) input.force = true;
    if (opts.launching) input.launching = opts.launching;
    if (opts.terminating) input.terminating = opts.terminating;
    const plan: UnitsPlan = planUnits(input);
    for (const u of plan.result.unplaceable)
      log.warn("units: unplaceable", { unit: u.unit, reason: u.reason });
    const report: UnitsReport = {
      dryRun: Boolean(opts.dryRun),
      nodes: records.length,
      units: Object.keys(plan.result.placement).length,
      placement: plan.result.placement,
      moves: plan.result.moves,
      unplaceable: plan.result.unplaceable,
      pushed: pushSummary(plan),
      results: [],
      failed: [],
      commands: plan.requests.length,
      saved: false,
      attempts: attempt,
      missingImages: rendered.missing,
      mainRemovals: mainRemovals(plan, records, catalog),
      volumeZones: zones,
      volumesToCreate: planVolumeCreates(
        needs,
        volumes,
        plan.result.placement,
        new Map(records.map((r) => [r.instanceId, r.zone])),
      ),
      volumesCreated: [],
      volumeActions: [],
      held: [],
    };
    if (opts.dryRun) return report;
    if (report.mainRemovals.length && !opts.confirm)
      throw new RefusedError(
        `units: the catalog no longer has units that run on main nodes (${report.mainRemovals.join(", ")}); nothing was pushed. Push with "confirm": true (locally: devcluster local units --confirm) to stop them`,
      );
    // Before anything starts: a unit's volumes exist in its node's zone (created once, kept).
    if (report.volumesToCreate.length)
      report.volumesCreated = await ensureVolumes(deps.volumes!, report.volumesToCreate, log);
    // Then each volume goes to its unit's node where the fencing rules allow; a unit whose volume
    // cannot come yet is held (left out of this push, its node pushed again next time).
    let pushPlan = plan;
    let fence = needs.length
      ? await fenceVolumes(deps.volumes!, needs, plan.result.placement, {}, log)
      : undefined;
    if (fence) {
      input.hold = fence.held.map((h) => h.unit);
      input.mounts = fence.mounts;
      pushPlan = planUnits(input);
      report.volumeActions.push(...fence.done);
      report.pushed = pushSummary(pushPlan);
      report.commands = pushPlan.requests.length;
    }
    // Every node whose placement changes (held units included) holds its etcd role before any push.
    // A later attempt follows another run's placement: this run's earlier attempt may have given
    // roles for a plan that was never stored, on nodes this plan no longer pushes, so every node's
    // role is checked again (each check changes only what differs).
    if (deps.access)
      await keepNodeAccess(
        deps.access,
        catalog,
        plan,
        records,
        opts,
        attempt > 1 || Boolean(opts.force),
        log,
      );
    const last = new Map<string, NodePushResult>();
    const runAll = async (requests: UnitsPlan["requests"]) => {
      const out: NodePushResult[] = [];
      for (const req of requests) out.push(...parsePushResults(await deps.commands.run(req)));
      for (const r of out) last.set(r.instanceId, r);
      report.results.push(...out);
      return out;
    };
    const first = await runAll(pushPlan.requests);
    // A held unit's old node has now stopped it and unmounted its volumes (its own word, in this
    // push): those volumes can follow their unit in the same sync.
    if (fence?.held.length) {
      const before = fence.held.map((h) => h.unit);
      fence = await fenceVolumes(
        deps.volumes!,
        needs,
        plan.result.placement,
        runningNow(first, needs, volumes),
        log,
      );
      report.volumeActions.push(...fence.done);
      const still = fence.held.map((h) => h.unit);
      if (before.some((u) => !still.includes(u))) {
        const nodes = placementNodes(input);
        const second = planPushes({
          catalog,
          nodes,
          state: { placement: withoutHeld(plan.result.placement, before), files: pushPlan.next.files },
          placement: withoutHeld(plan.result.placement, still),
          force: false,
          mounts: fence.mounts,
        });
        report.pushed.push(...pushSummary({ pushes: second.pushes }));
        report.commands += second.requests.length;
        await runAll(second.requests);
      }
      input.hold = still;
      pushPlan = { ...pushPlan, next: planUnits(input).next };
    }
    report.held = fence?.held ?? [];
    report.failed = [...last.values()].filter((r) => !r.ok).map((r) => r.instanceId);
    for (const r of [...last.values()].filter((x) => !x.ok))
      log.error("units: push failed on a node", {
        instanceId: r.instanceId,
        status: r.status,
        failed: r.failed,
        error: r.error,
      });
    const next = stateAfterPush(pushPlan, [...last.values()]);
    if (await deps.placements.save(next, stored.revision)) {
      report.saved = true;
      log.info("units: placement stored", {
        pushed: report.pushed.length,
        failed: report.failed,
        moves: report.moves.length,
        unplaceable: report.unplaceable.length,
      });
      return report;
    }
    log.warn("units: placement changed meanwhile; planning again", { attempt });
    if (attempt >= maxAttempts)
      throw new DevclusterError(
        `units: placement kept changing during ${attempt} attempts; reconcile will finish the work`,
      );
  }
}

function pushSummary(plan: Pick<UnitsPlan, "pushes">): UnitsReport["pushed"] {
  return plan.pushes.map((p) => ({
    nodeId: p.nodeId,
    reasons: p.reasons,
    units: p.units,
    start: p.start,
    stop: p.stop,
    changed: p.changed,
  }));
}

/**
 * The units each node answered it still runs after a push: its unit set, and any unit whose volume
 * it still has mounted (a failed unmount keeps the volume where it is). A node with no answer is
 * left out: its volumes stay.
 */
function runningNow(
  results: NodePushResult[],
  needs: VolumeNeed[],
  volumes: VolumeRecord[],
): Record<string, string[]> {
  const unitOf = unitOfVolumes(needs, volumes);
  const out: Record<string, string[]> = {};
  for (const r of results) {
    if (!r.units) continue;
    const mounted = (r.mounted ?? []).flatMap((id) => (unitOf.has(id) ? [unitOf.get(id)!] : []));
    out[r.instanceId] = [...new Set([...r.units, ...mounted])];
  }
  return out;
}

/**
 * Before the push: the nodes it reaches (every registered node when forced, or when a run stored
 * another placement meanwhile) hold the etcd role their
 * new placement needs, so a unit it starts can announce itself once authentication is on; a grant
 * that moved away is revoked. A terminating node's user and role go.
 */
async function keepNodeAccess(
  access: NodeAccessStore,
  catalog: Catalog,
  plan: UnitsPlan,
  records: { instanceId: string }[],
  opts: SyncOptions,
  everyNode: boolean,
  log: Logger,
) {
  const announced = announcedByNode(catalog, plan.result.placement);
  const targets = new Set(everyNode ? records.map((r) => r.instanceId) : plan.pushes.map((p) => p.nodeId));
  if (opts.terminating) targets.delete(opts.terminating);
  let granted = 0;
  let revoked = 0;
  // A few nodes at a time: each is a handful of sequential calls, and a forced sync reaches them all.
  const ids = [...targets].sort();
  for (let i = 0; i < ids.length; i += 8)
    for (const r of await Promise.all(
      ids.slice(i, i + 8).map((id) => access.apply(nodeAccess(id, announced.get(id) ?? []))),
    )) {
      granted += r.granted;
      revoked += r.revoked;
    }
  if (opts.terminating) await access.remove(nodeAccess(opts.terminating, []));
  if (granted || revoked || opts.terminating)
    log.info("units: etcd roles kept", { nodes: targets.size, granted, revoked, removed: opts.terminating });
}

/** Units a push would stop on a main node because the catalog lacks their file (not a re-placement). */
function mainRemovals(plan: UnitsPlan, records: { instanceId: string; role: string }[], catalog: Catalog) {
  const mains = new Set(records.filter((r) => r.role === "main").map((r) => r.instanceId));
  const fileOf = (u: string) => {
    const n = parseUnitName(u);
    return n ? templateOf(n) : u;
  };
  return plan.pushes
    .filter((p) => mains.has(p.nodeId))
    .flatMap((p) => p.stop.filter((u) => !catalog.files.has(fileOf(u))).map((u) => `${u} on ${p.nodeId}`));
}

/** A `volume` event's answer: what the action did and, after a restore or move, the sync that followed. */
export interface VolumeEventReport {
  volume: SnapshotRunReport | SwapReport;
  sync?: UnitsReport;
}

/**
 * `{"volume": {...}}`: snapshot service volumes (the daily schedule, or by hand), or restore/move
 * one, and then sync the units, so the fence stops the unit where it runs, detaches the retired
 * volume and starts the unit on the new one, as for any other move.
 */
export async function runVolumes(deps: UnitsDeps, event: unknown): Promise<VolumeEventReport> {
  const extra = Object.keys(event as object).filter((k) => k !== "volume" && k !== "catalog");
  if (extra.length)
    throw new InvalidInputError(
      "invalid units event",
      extra.map((k) => `${k}: not allowed beside volume`),
    );
  // The catalog the sync after a swap pushes (as a units event's; the bundled one when absent).
  checkCatalogKeys(event);
  const { catalog } = parseInput(
    UnitsEventSchema.pick({ catalog: true }),
    { catalog: (event as { catalog?: unknown }).catalog },
    "invalid units event",
  );
  if (!deps.volumes || !deps.volumeSnapshots)
    throw new DevclusterError("units: this function has no access to volume snapshots");
  const ops = {
    volumes: deps.volumes,
    snapshots: deps.volumeSnapshots.store,
    zones: async () => [...new Set((await deps.nodes.listNodes()).map((n) => n.zone).filter(Boolean))],
    log: deps.log,
  };
  const volume = await runVolumeEvent(
    ops,
    deps.volumeSnapshots.cluster,
    (event as { volume: unknown }).volume,
  );
  if (volume.action === "snapshot" || volume.dryRun) return { volume };
  return { volume, sync: await exclusively(deps, () => syncUnits(deps, catalog ? { catalog } : {})) };
}

/**
 * Checked on the raw keys: a parsed record silently drops `__proto__`, leaving a catalog that looks
 * empty (which would stop every unit everywhere).
 */
function checkCatalogKeys(event: unknown) {
  const raw = (event as { catalog?: unknown } | null)?.catalog;
  if (raw && typeof raw === "object") {
    const bad = Object.keys(raw).filter((k) => parseUnitName(k) === undefined);
    if (bad.length)
      throw new InvalidInputError(
        "invalid units event",
        bad.map((k) => `catalog: ${JSON.stringify(k)} is not a unit file name`),
      );
  }
}

export async function runUnits(deps: UnitsDeps, event: unknown = {}): Promise<UnitsReport> {
  checkCatalogKeys(event);
  const input = parseInput(UnitsEventSchema, event ?? {}, "invalid units event");
  const opts: SyncOptions = {};
  if (input.catalog) opts.catalog = input.catalog;
  if (input.dryRun) opts.dryRun = true;
  if (input.force) opts.force = true;
  if (input.confirm) opts.confirm = true;
  return opts.dryRun ? syncUnits(deps, opts) : exclusively(deps, () => syncUnits(deps, opts));
}

/** A sync that changes anything runs under the units lock, when the deps hold one. */
const exclusively = <T>(deps: UnitsDeps, fn: () => Promise<T>) =>
  deps.exclusive ? deps.exclusive(fn) : fn();
