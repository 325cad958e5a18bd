// ClusterStore over the etcd v3 gRPC API with the `etcd3` client (a maintained client with the
// Cluster API, leases and transactions, failover across hosts and per-host circuit breakers).
//
// Endpoints come from the caller (the main group's instances, plus known members). The member list
// is asked of every endpoint at once, each with its own client and a short deadline, so a dead
// endpoint costs one deadline, not one per host in turn. Everything else goes through one client over
// the started voters' client URLs (learners refuse most RPCs), with a per-call deadline.
import { NODES_PREFIX, lockKey, nodeKey } from "../../domain/etcdKeys.ts";
import { ConsecutiveBreaker, circuitBreaker, handleWhen, isBrokenCircuitError, retry } from "cockatiel";
import { Etcd3, isRecoverableError, type IOptions } from "etcd3";
import {
  ClusterNotReadyError,
  EtcdUnavailableError,
  LearnerNotReadyError,
  RefusedError,
} from "../../domain/errors.ts";
import { type EtcdMember, type NodeRecord } from "../../domain/model.ts";
import type { ClusterStore, Lock, MemberAddResult } from "../../ports/cluster.ts";
import { pollUntil } from "../../domain/poll.ts";
import { etcdHttp } from "./http.ts";
import { etcdAccess } from "./etcdAccess.ts";
import {
  grpcTlsOptions,
  lazyHttpsAgent,
  tlsResolver,
  type EtcdClientTls,
  type EtcdTlsSource,
} from "./tls.ts";

export interface EtcdStoreOptions {
  endpoints: string[];
  /** Deadline of one unary call. */
  callTimeoutMs?: number;
  /** Deadline of the member-list probe of one endpoint. */
  probeTimeoutMs?: number;
  /** The control plane's certificate, for members that serve https (none: plain http only). */
  tls?: EtcdTlsSource | undefined;
}

function toMember(m: {
  ID: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner?: boolean;
}): EtcdMember {
  return {
    id: String(m.ID),
    name: m.name ?? "",
    peerUrls: [...(m.peerURLs ?? [])],
    clientUrls: [...(m.clientURLs ?? [])],
    isLearner: Boolean(m.isLearner),
  };
}

/**
 * etcd's refusals of a request it understood: the host is fine, the cluster is not ready for this
 * change yet (a voter connected less than 5 s ago, a learner pending, a leader change). They arrive
 * as gRPC UNAVAILABLE, which etcd3 counts as a host failure by default.
 */
export const isServerRefusal = (e: unknown): boolean =>
  /unhealthy cluster|too many learner|not leader|leader changed|in sync with leader|learner.*not.*ready/i.test(
    e instanceof Error ? e.message : String(e),
  );

/** A failure of the host or the connection: what the per-host breaker and the client's retry count. */
export const isHostFault = (e: Error): boolean => isRecoverableError(e) && !isServerRefusal(e);

/**
 * etcd3's own policies (cockatiel: a per-host breaker after 3 consecutive faults, 3 retries), with
 * refusals left out: otherwise three "unhealthy cluster" answers in a row open the breaker and every
 * call to a healthy member fails for 5 s, exactly while a cluster that just recovered accepts members.
 */
export const faultHandling: NonNullable<IOptions["faultHandling"]> = {
  host: () =>
    circuitBreaker(handleWhen(isHostFault), { halfOpenAfter: 5000, breaker: new ConsecutiveBreaker(3) }),
  global: retry(handleWhen(isHostFault), { maxAttempts: 3 }),
};

function clientOptions(hosts: string[], timeoutMs: number, tls: EtcdClientTls | undefined): IOptions {
  return {
    hosts,
    ...grpcTlsOptions(tls),
    faultHandling,
    dialTimeout: Math.min(timeoutMs, 2000),
    // Streams (lease keep-alives, watches) have no deadline; unary calls do.
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeoutMs }),
  };
}

/** etcd's refusals as our typed errors (callers branch on the class); anything else unchanged. */
export function translate(e: unknown): never {
  const msg = e instanceof Error ? e.message : String(e);
  // An open breaker means the hosts failed recently, not that the request is wrong: retry later.
  if (isBrokenCircuitError(e)) throw new ClusterNotReadyError(`etcd client paused: ${msg}`, { cause: e });
  if (/in sync with leader|learner.*not.*ready/i.test(msg)) throw new LearnerNotReadyError(msg, { cause: e });
  if (/unhealthy cluster|too many learner/i.test(msg)) throw new ClusterNotReadyError(msg, { cause: e });
  if (/not enough started members/i.test(msg)) throw new RefusedError(msg);
  throw e;
}

export function etcdClusterStore(opts: EtcdStoreOptions): ClusterStore {
  const callTimeout = opts.callTimeoutMs ?? 5000;
  const probeTimeout = opts.probeTimeoutMs ?? 1500;
  const endpoints = [...new Set(opts.endpoints)].sort();
  const probes = new Map<string, Etcd3>();
  const tls = tlsResolver(opts.tls);
  const agent = lazyHttpsAgent(opts.tls);
  const http = etcdHttp(agent.get);
  let main: { key: string; client: Etcd3 } | undefined;

  const probe = async (ep: string) => {
    const t = await tls.forUrls([ep]);
    let c = probes.get(ep);
    if (!c) probes.set(ep, (c = new Etcd3(clientOptions([ep], probeTimeout, t))));
    return c;
  };

  async function listFromAny(): Promise<EtcdMember[] | null> {
    if (endpoints.length === 0) return null;
    try {
      return await Promise.any(
        endpoints.map(async (ep) => {
          const res = await (await probe(ep)).cluster.memberList({}, { deadline: Date.now() + probeTimeout });
          return res.members.map(toMember);
        }),
      );
    } catch {
      return null;
    }
  }

  let lastMembers: EtcdMember[] | null = null;
  async function client(): Promise<Etcd3> {
    if (!lastMembers) lastMembers = await listFromAny();
    const voters = (lastMembers ?? [])
      .filter((m) => !m.isLearner && m.clientUrls.length)
      .flatMap((m) => m.clientUrls);
    const hosts = voters.length ? [...new Set(voters)].sort() : endpoints;
    if (hosts.length === 0) throw new EtcdUnavailableError("no etcd endpoint known");
    const key = hosts.join(",");
    if (main?.key !== key) {
      const t = await tls.forUrls(hosts);
      // A concurrent call may have made it while the certificate loaded.
      if (main?.key !== key) {
        // Calls in flight on the old client finish within their deadline; close it after that.
        const old = main?.client;
        if (old) setTimeout(() => old.close(), 2 * callTimeout).unref();
        main = { key, client: new Etcd3(clientOptions(hosts, callTimeout, t)) };
      }
    }
    return main!.client;
  }

  const store: ClusterStore = {
    async memberList() {
      const ms = await listFromAny();
      lastMembers = ms;
      return ms;
    },

    async healthyMembers(members) {
      const out = new Set<string>();
      await Promise.all(
        members.map(async (m) => {
          const url = m.clientUrls[0];
          if (!url) return;
          try {
            const res = await http.request(`${url}/health`, probeTimeout);
            const body = JSON.parse(res.text) as { health?: string | boolean };
            if (res.status === 200 && String(body.health) === "true") out.add(m.id);
          } catch {
            // unreachable or unhealthy
          }
        }),
      );
      return out;
    },

    async addLearner(peerUrl): Promise<MemberAddResult> {
      const c = await client();
      try {
        const res = await c.cluster.memberAdd({ peerURLs: [peerUrl], isLearner: true });
        const members = res.members.map(toMember);
        lastMembers = members;
        return { member: toMember(res.member), members };
      } catch (e) {
        translate(e);
      }
    },

    async promote(memberId) {
      const c = await client();
      try {
        const res = await c.cluster.memberPromote({ ID: memberId });
        lastMembers = res.members.map(toMember);
        return lastMembers;
      } catch (e) {
        // Already a voter (a concurrent handler promoted it): the promotion is done.
        if (/can only promote a learner member/i.test(e instanceof Error ? e.message : "")) {
          const now = await listFromAny();
          if (now?.some((m) => m.id === memberId && !m.isLearner)) return (lastMembers = now);
        }
        translate(e);
      }
    },

    async removeMember(memberId) {
      const c = await client();
      try {
        const res = await c.cluster.memberRemove({ ID: memberId });
        lastMembers = res.members.map(toMember);
      } catch (e) {
        if (/member not found/i.test(e instanceof Error ? e.message : "")) return; // already gone
        translate(e);
      }
    },

    async getNode(instanceId) {
      const c = await client();
      const v = await c.get(nodeKey(instanceId)).string();
      return v ? (JSON.parse(v) as NodeRecord) : undefined;
    },

    async listNodes() {
      const c = await client();
      const res = await c.getAll().prefix(NODES_PREFIX).exec();
      const nodes: NodeRecord[] = [];
      for (const kv of res.kvs) {
        try {
          nodes.push(JSON.parse(kv.value.toString()) as NodeRecord);
        } catch {
          // a record that is not JSON is skipped (and rewritten by reconcile when its node is live)
        }
      }
      return { nodes, revision: String(res.header.revision) };
    },

    async putNode(rec) {
      const c = await client();
      const res = await c.put(nodeKey(rec.instanceId)).value(JSON.stringify(rec)).exec();
      return String(res.header.revision);
    },

    async deleteNode(instanceId) {
      const c = await client();
      await c.delete().key(nodeKey(instanceId)).exec();
    },

    async getKey(key) {
      const c = await client();
      return (await c.get(key).string()) ?? undefined;
    },

    async putKey(key, value) {
      const c = await client();
      const res = await c.put(key).value(value).exec();
      return String(res.header.revision);
    },

    async tryLock(name, owner, { ttlSeconds, waitMs }): Promise<Lock | undefined> {
      const c = await client();
      const key = lockKey(name);
      // Fast path for a busy lock and no wait: one read, no lease granted and revoked.
      if (waitMs === 0 && (await c.get(key).exists())) return undefined;
      const lease = c.lease(ttlSeconds, { autoKeepAlive: true });
      lease.on("lost", () => {});
      const leaseId = await lease.grant();
      // The one way a lock (or a try that did not get it) lets go: revoking the lease deletes a key
      // held through it. If that fails (the lease's member just went away), delete the key if it
      // is still held through this lease rather than hold the lock for the TTL.
      const release = async () => {
        await lease.revoke().catch(async () => {
          await c
            .if(key, "Lease", "==", leaseId)
            .then(c.delete().key(key))
            .commit()
            .catch(() => {});
        });
      };
      const got = await pollUntil(
        async () =>
          (await c.if(key, "Create", "==", 0).then(c.put(key).value(owner).lease(leaseId)).commit())
            .succeeded || undefined,
        { timeoutMs: waitMs, intervalMs: 25, backoff: 2, maxIntervalMs: 400, jitter: true },
      );
      if (got) return { release };
      await release();
      return undefined;
    },

    async enableAuth() {
      await etcdAccess(await client()).enableAuth();
    },

    close() {
      agent.destroy();
      main?.client.close();
      for (const p of probes.values()) p.close();
      probes.clear();
      main = undefined;
    },
  };
  return store;
}
