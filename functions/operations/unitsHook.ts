// Unit placement inside lifecycle and reconcile: a launching node gets its units before its action
// completes, a terminating node's units move elsewhere first, and reconcile re-pushes every node's
// desired units to repair drift.
import { randomUUID } from "node:crypto";
import type { Logger } from "../ports/log.ts";
import type { NodeRecord } from "../domain/model.ts";
import type { CatalogSource } from "../domain/units/catalog.ts";
import { DevclusterError, LockBusyError } from "../domain/errors.ts";
import { syncUnits, type UnitsDeps } from "./units.ts";
import type { Commands } from "../ports/index.ts";
import type { NodeAccessStore, PlacementStore, PublishedImages } from "../ports/units.ts";
import type { Volumes } from "../ports/volumes.ts";

/** The lock that serialises volume creation (every path that syncs units takes it by this name). */
export const VOLUMES_LOCK = "volumes";
import type { UnitsContext, UnitsHook } from "./deps.ts";

/** How long a sync waits for the units lock before it gives up (a launch's push may hold it that long). */
export const UNITS_LOCK_WAIT_MS = 120_000;

/**
 * Unit syncs are serialised by a lease-backed lock: each plans for every registered node, so under a
 * burst of launches one holder pushes many nodes at once and the waiters behind it find their node
 * already served (instead of racing compare-and-swap on the placement and giving up). The `units`
 * function takes the same lock (runtime wiring), so a catalog push and a launch never interleave
 * their changes to the nodes' etcd roles.
 */
export async function withUnitsLock<T>(
  store: Pick<UnitsContext["store"], "tryLock">,
  waitMs: number,
  fn: () => Promise<T>,
): Promise<T> {
  const lock = await store.tryLock("units", `units/${randomUUID()}`, { ttlSeconds: 30, waitMs });
  if (!lock) throw new LockBusyError(`units: another sync held the lock for ${waitMs} ms`);
  try {
    return await fn();
  } finally {
    await lock.release().catch(() => {});
  }
}

export interface UnitsHookDeps {
  commands: Commands;
  /** The placement store over these etcd endpoints (async: https needs the certificate first). */
  placements(endpoints: string[]): PlacementStore | Promise<PlacementStore>;
  /** etcd users and roles over these endpoints (absent: not kept). */
  access?(endpoints: string[]): NodeAccessStore | Promise<NodeAccessStore>;
  catalog: () => CatalogSource | Promise<CatalogSource>;
  /** Image references the catalog renders with (absent: every placeholder renders as missing). */
  images?: PublishedImages;
  /** The cluster's service volumes (needed once a unit declares one). */
  volumes?: Volumes;
  lockWaitMs?: number;
}

export function unitsHook(deps: UnitsHookDeps): UnitsHook {
  const waitMs = deps.lockWaitMs ?? UNITS_LOCK_WAIT_MS;
  const depsFor = async (ctx: UnitsContext, log: Logger): Promise<UnitsDeps> => ({
    log,
    nodes: { listNodes: async () => (await ctx.store.listNodes()).nodes },
    placements: await deps.placements(ctx.endpoints),
    ...(deps.access ? { access: await deps.access(ctx.endpoints) } : {}),
    commands: deps.commands,
    catalog: deps.catalog,
    ...(deps.images ? { images: deps.images } : {}),
    ...(deps.volumes
      ? {
          volumes: {
            store: deps.volumes,
            lock: () =>
              ctx.store.tryLock(VOLUMES_LOCK, `units/${randomUUID()}`, { ttlSeconds: 60, waitMs: 60_000 }),
          },
        }
      : {}),
  });
  return {
    async onLaunch(node: NodeRecord, log: Logger, ctx: UnitsContext) {
      const r = await withUnitsLock(ctx.store, waitMs, async () =>
        syncUnits(await depsFor(ctx, log), { launching: node.instanceId }),
      );
      if (r.failed.includes(node.instanceId)) {
        throw new DevclusterError(`units could not be pushed to ${node.instanceId}`);
      }
    },
    async onTerminate(node: NodeRecord, log: Logger, ctx: UnitsContext) {
      await withUnitsLock(ctx.store, waitMs, async () =>
        syncUnits(await depsFor(ctx, log), { terminating: node.instanceId }),
      );
    },
    async reconcile(log: Logger, ctx: UnitsContext) {
      const r = await withUnitsLock(ctx.store, waitMs, async () =>
        syncUnits(await depsFor(ctx, log), { force: true }),
      );
      return { results: r.results, failed: r.failed };
    },
  };
}
