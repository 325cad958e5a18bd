// Wires unit placement (functions/units.ts) into lifecycle and reconcile: a launching node gets its
// units before its action completes, a terminating node's units move elsewhere first, and reconcile
// re-pushes every node's desired units to repair drift.
import { Etcd3 } from "etcd3";
import type { Logger } from "../core/log.ts";
import type { NodeRecord } from "../core/model.ts";
import { randomUUID } from "node:crypto";
import { DevclusterError, LockBusyError } from "../core/errors.ts";
import { etcdPlacementStore } from "../adapters/etcdPlacementStore.ts";
import { byEndpoints } from "../adapters/byEndpoints.ts";
import { readCatalogDir } from "../catalog/index.ts";
import { syncUnits, type UnitsDeps } from "../units.ts";
import type { Commands } from "../ports/index.ts";
import type { ClusterStore } from "../ports/cluster.ts";
import type { UnitsHook } from "./deps.ts";
import type { PublishedImages } from "../ports/units.ts";

/** Where the hook reaches etcd: the handler's own store and endpoints. */
export interface UnitsContext {
  store: ClusterStore;
  endpoints: string[];
}

/**
 * Unit syncs are serialised by a lease-backed lock: each plans for every registered node, so under a
 * burst of launches one holder pushes many nodes at once and the waiters behind it find their node
 * already served (instead of racing compare-and-swap on the placement and giving up).
 */
async function withUnitsLock<T>(ctx: UnitsContext, waitMs: number, fn: () => Promise<T>): Promise<T> {
  const lock = await ctx.store.tryLock("units", `units/${randomUUID()}`, { ttlSeconds: 30, waitMs });
  if (!lock) throw new LockBusyError(`units: another sync held the lock for ${waitMs} ms`);
  try {
    return await fn();
  } finally {
    await lock.release().catch(() => {});
  }
}

export function unitsHook(commands: Commands, opts: { lockWaitMs?: number; images?: PublishedImages } = {}): UnitsHook {
  const waitMs = opts.lockWaitMs ?? 120_000;
  const clients = byEndpoints(
    (hosts) => new Etcd3({ hosts, dialTimeout: 2000 }),
    (c) => c.close(),
  );
  const depsFor = (ctx: UnitsContext, log: Logger): UnitsDeps => {
    return {
      log,
      nodes: { listNodes: async () => (await ctx.store.listNodes()).nodes },
      placements: etcdPlacementStore(clients(ctx.endpoints)),
      commands,
      catalog: () => readCatalogDir(),
      ...(opts.images ? { images: opts.images } : {}),
    };
  };
  return {
    async onLaunch(node: NodeRecord, log: Logger, ctx: UnitsContext) {
      const r = await withUnitsLock(ctx, waitMs, () => syncUnits(depsFor(ctx, log), { launching: node.instanceId }));
      if (r.failed.includes(node.instanceId)) {
        throw new DevclusterError(`units could not be pushed to ${node.instanceId}`);
      }
    },
    async onTerminate(node: NodeRecord, log: Logger, ctx: UnitsContext) {
      await withUnitsLock(ctx, waitMs, () => syncUnits(depsFor(ctx, log), { terminating: node.instanceId }));
    },
    async reconcile(log: Logger, ctx: UnitsContext) {
      await withUnitsLock(ctx, waitMs, () => syncUnits(depsFor(ctx, log), { force: true }));
    },
  };
}
