// DNS sync with coalescing. Every handler that changed the registry or the member list makes sure the
// zone reflects a registry revision at least as new as its own write, but only one handler at a time
// talks to Route 53: the holder of the `dns` lock re-derives the whole desired record set (node A
// records from the registry, SRV records from the member list), diffs it with the zone and sends one
// change batch. Handlers that find the lock busy wait until the synced revision covers their write
// (someone else's batch carried their record) or the lock frees. A burst of N launches therefore costs
// about one Route 53 call per sync round instead of one per launch, and no record is lost: the last
// holder always reads the registry after the last write it has to cover.
//
// The zone's current state (for our names) is cached in etcd after every successful batch, so a sync
// normally needs no ListResourceRecordSets; if the cache is stale, Route 53 refuses the batch (a DELETE
// must match the live record) and the sync lists the zone and retries. `reconcile` always lists.
import { DNS_SYNCED_KEY } from "../domain/etcdKeys.ts";
import {
  isClientSrvName,
  desiredNodeRecords,
  desiredSrvRecords,
  diffRecords,
  isEmptyDiff,
  isManaged,
  type DnsRecord,
} from "../domain/dnsPlan.ts";
import type { Logger } from "../ports/log.ts";
import { pollUntil, sleep } from "../domain/poll.ts";
import type { ClusterStore } from "../ports/cluster.ts";
import type { Dns } from "../ports/dns.ts";

export interface DnsSyncOptions {
  domain: string;
  owner: string;
  /** The registry revision the zone must cover (the caller's last write); undefined: sync now. */
  revision?: string | undefined;
  /** Ignore the cached zone state and list the zone (reconcile). */
  list?: boolean;
  /** The lock holder waits this long for concurrent writers to land before reading the registry. */
  coalesceMs: number;
  deadlineMs: number;
}

export interface DnsSyncResult {
  synced: boolean;
  /** True when this handler sent the batch; false when another handler's batch covered it. */
  sentByMe: boolean;
  changes: number;
  revision?: string;
  /** This sync changed `_etcd-client._tcp` (gateways that read it at start must re-read it). */
  discoveryChanged?: boolean;
}

interface SyncedState {
  revision: string;
  records: DnsRecord[];
}

export async function syncDns(
  store: ClusterStore,
  dns: Dns,
  log: Logger,
  o: DnsSyncOptions,
): Promise<DnsSyncResult> {
  const target = o.revision ? BigInt(o.revision) : undefined;
  const done = await pollUntil(
    async (): Promise<DnsSyncResult | undefined> => {
      if (target !== undefined) {
        const raw = await store.getKey(DNS_SYNCED_KEY);
        const state = raw ? (JSON.parse(raw) as SyncedState) : undefined;
        if (state && BigInt(state.revision) >= target)
          return { synced: true, sentByMe: false, changes: 0, revision: state.revision };
      }
      const lock = await store.tryLock("dns", o.owner, { ttlSeconds: 15, waitMs: 0 });
      if (!lock) return undefined;
      try {
        if (o.coalesceMs > 0) await sleep(o.coalesceMs);
        return await syncLocked(store, dns, log, o);
      } finally {
        await lock.release();
      }
    },
    { timeoutMs: o.deadlineMs, intervalMs: 30, backoff: 1.5, maxIntervalMs: 250, jitter: true },
  );
  return done ?? { synced: false, sentByMe: false, changes: 0 };
}

/** One sync round by a caller that already holds the `dns` lock (what `syncDns` does once it has it). */
export async function syncLocked(
  store: ClusterStore,
  dns: Dns,
  log: Logger,
  o: DnsSyncOptions,
): Promise<DnsSyncResult> {
  const { nodes, revision } = await store.listNodes();
  const members = await store.memberList();
  const ipToInstance = new Map(
    nodes.filter((n) => n.state !== "gone").map((n) => [n.privateIp, n.instanceId]),
  );
  const desired = [
    ...desiredNodeRecords(nodes, o.domain),
    ...(members ? desiredSrvRecords(members, ipToInstance, o.domain) : []),
  ];
  // Without a member list the SRV records are left as they are (never emptied on a partial view).
  const scope = { nodes: true, srv: members !== null };

  const raw = o.list ? undefined : await store.getKey(DNS_SYNCED_KEY);
  let live: DnsRecord[] | undefined = raw ? (JSON.parse(raw) as SyncedState).records : undefined;
  let listed = false;
  if (!live) {
    live = await dns.listRecords(["A", "SRV"]);
    listed = true;
  }
  let diff = diffRecords(desired, live, o.domain, scope);
  if (!isEmptyDiff(diff)) {
    try {
      await dns.apply(diff, `devcluster sync r${revision}`);
    } catch (e) {
      if (
        listed ||
        !/InvalidChangeBatch|not found|values provided do not match|already exists/i.test(
          `${(e as Error).name} ${(e as Error).message}`,
        )
      )
        throw e;
      log.warn("dns: cached zone state was stale; listing the zone", { error: (e as Error).message });
      live = await dns.listRecords(["A", "SRV"]);
      diff = diffRecords(desired, live, o.domain, scope);
      if (!isEmptyDiff(diff)) await dns.apply(diff, `devcluster sync r${revision}`);
    }
    log.info("dns: synced", {
      revision,
      upserts: diff.upserts.map((r) => `${r.type} ${r.name}`),
      deletes: diff.deletes.map((r) => `${r.type} ${r.name}`),
    });
  }
  // What the zone now holds for our names: everything we did not delete, with our upserts applied.
  const deleted = new Set(diff.deletes.map((r) => `${r.name}|${r.type}`));
  const upserted = new Map(diff.upserts.map((r) => [`${r.name}|${r.type}`, r]));
  const after = [
    ...live.filter(
      (r) =>
        isManaged(r, o.domain, { nodes: true, srv: true }) &&
        !deleted.has(`${r.name}|${r.type}`) &&
        !upserted.has(`${r.name}|${r.type}`),
    ),
    ...upserted.values(),
  ];
  await store.putKey(DNS_SYNCED_KEY, JSON.stringify({ revision, records: after } satisfies SyncedState));
  const discoveryChanged = [...diff.upserts, ...diff.deletes].some(
    (r) => r.type === "SRV" && isClientSrvName(r.name),
  );
  return {
    synced: true,
    sentByMe: true,
    changes: diff.upserts.length + diff.deletes.length,
    revision,
    discoveryChanged,
  };
}
