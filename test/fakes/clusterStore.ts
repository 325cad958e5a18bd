// An in-memory etcd cluster and the ClusterStore port over it, for operation tests without processes.
// test/integration/contracts/clusterStore.test.ts runs the same suite against it and real etcd.
import { NODES_PREFIX, nodeKey } from "../../functions/domain/etcdKeys.ts";
import { ClusterNotReadyError, LearnerNotReadyError, NotFoundError } from "../../functions/domain/errors.ts";
import { etcdUrls, type EtcdMember, type NodeRecord } from "../../functions/domain/model.ts";
import type { ClusterStore, Lock } from "../../functions/ports/cluster.ts";

interface FakeMember extends EtcdMember {
  /** The process runs (a learner added but never started has no name and no client URL). */
  alive: boolean;
  /** A learner that has caught up with the leader may be promoted. */
  caughtUp: boolean;
}

/** One etcd cluster held in memory: members, keys with a revision, and locks. */
export class FakeEtcd {
  readonly members: FakeMember[] = [];
  readonly kv = new Map<string, string>();
  readonly locks = new Map<string, string>();
  revision = 1;
  /** Authentication was enabled (the real one then refuses clients without a certificate). */
  authEnabled = false;
  private nextId = 1000;

  /**
   * A cluster whose members are started voters at these addresses, named by instance id. `tls`:
   * members serve https (the scheme of the URLs they advertise).
   */
  constructor(
    voters: { name: string; ip: string }[] = [],
    readonly tls = false,
  ) {
    for (const v of voters) this.startVoter(v.name, v.ip);
  }

  /** A member of a new cluster starts (its node got `new` start settings). */
  startVoter(name: string, ip: string): FakeMember {
    const isLearner = false;
    const m: FakeMember = {
      id: String(this.nextId++),
      name,
      peerUrls: [etcdUrls(this.tls).peer(ip)],
      clientUrls: [etcdUrls(this.tls).client(ip)],
      isLearner,
      alive: true,
      caughtUp: !isLearner,
    };
    this.members.push(m);
    return m;
  }

  /** What the node's own etcd does when it starts as the learner it was added as. */
  startLearner(memberId: string, name: string, opts: { caughtUp?: boolean } = {}): void {
    const m = this.member(memberId);
    const ip = new URL(m.peerUrls[0]!).hostname;
    Object.assign(m, {
      name,
      clientUrls: [etcdUrls(this.tls).client(ip)],
      alive: true,
      caughtUp: opts.caughtUp ?? true,
    });
  }

  /** The member's process dies (SIGKILL): it stays in the member list. */
  kill(name: string): void {
    for (const m of this.members) if (m.name === name) m.alive = false;
  }

  member(id: string): FakeMember {
    const m = this.members.find((x) => x.id === id);
    if (!m) throw new NotFoundError(`member ${id} not found`);
    return m;
  }

  hasQuorum(): boolean {
    const voters = this.members.filter((m) => !m.isLearner);
    return voters.filter((m) => m.alive).length > voters.length / 2;
  }

  /** A ClusterStore over these client URLs, as the real one is built per endpoint set. */
  store(endpoints: string[]): ClusterStore {
    return fakeClusterStore(this, endpoints);
  }

  put(key: string, value: string): string {
    this.kv.set(key, value);
    return String(++this.revision);
  }
}

const snapshot = (ms: FakeMember[]): EtcdMember[] =>
  ms.map(({ id, name, peerUrls, clientUrls, isLearner }) => ({
    id,
    name,
    peerUrls: [...peerUrls],
    clientUrls: [...clientUrls],
    isLearner,
  }));

export function fakeClusterStore(etcd: FakeEtcd, endpoints: string[]): ClusterStore {
  const reachable = () =>
    etcd.members.some((m) => m.alive && m.clientUrls.some((u) => endpoints.includes(u)));
  /** Reads and writes need a member to talk to and a quorum behind it. */
  const serving = () => {
    if (!reachable() || !etcd.hasQuorum()) throw new ClusterNotReadyError("etcd: no quorum reachable");
  };
  return {
    async memberList() {
      return reachable() ? snapshot(etcd.members) : null;
    },
    async healthyMembers(members) {
      const quorum = etcd.hasQuorum();
      return new Set(
        members
          .filter((m) => quorum && m.clientUrls.length && etcd.members.find((x) => x.id === m.id)?.alive)
          .map((m) => m.id),
      );
    },
    async addLearner(peerUrl) {
      serving();
      if (etcd.members.some((m) => m.isLearner))
        throw new ClusterNotReadyError("etcdserver: too many learner members in cluster");
      const m: FakeMember = {
        id: String(etcd.members.length + 5000 + Math.floor(Math.random() * 1e6)),
        name: "",
        peerUrls: [peerUrl],
        clientUrls: [],
        isLearner: true,
        alive: false,
        caughtUp: false,
      };
      etcd.members.push(m);
      return { member: snapshot([m])[0]!, members: snapshot(etcd.members) };
    },
    async promote(memberId) {
      serving();
      const m = etcd.member(memberId);
      if (m.isLearner && !(m.alive && m.caughtUp))
        throw new LearnerNotReadyError(
          "etcdserver: can only promote a learner member which is in sync with leader",
        );
      m.isLearner = false;
      return snapshot(etcd.members);
    },
    async removeMember(memberId) {
      serving();
      const i = etcd.members.findIndex((m) => m.id === memberId);
      if (i >= 0) etcd.members.splice(i, 1);
    },
    async getNode(instanceId) {
      serving();
      const v = etcd.kv.get(nodeKey(instanceId));
      return v ? (JSON.parse(v) as NodeRecord) : undefined;
    },
    async listNodes() {
      serving();
      const nodes: NodeRecord[] = [];
      for (const [k, v] of [...etcd.kv].sort(([a], [b]) => a.localeCompare(b))) {
        if (!k.startsWith(NODES_PREFIX)) continue;
        try {
          nodes.push(JSON.parse(v) as NodeRecord);
        } catch {
          // skipped, as the real store skips a record that is not JSON
        }
      }
      return { nodes, revision: String(etcd.revision) };
    },
    async putNode(rec) {
      serving();
      return etcd.put(nodeKey(rec.instanceId), JSON.stringify(rec));
    },
    async deleteNode(instanceId) {
      serving();
      if (etcd.kv.delete(nodeKey(instanceId))) etcd.revision++;
    },
    async getKey(key) {
      serving();
      return etcd.kv.get(key);
    },
    async putKey(key, value) {
      serving();
      return etcd.put(key, value);
    },
    async tryLock(name, owner, { waitMs }): Promise<Lock | undefined> {
      serving();
      const until = Date.now() + waitMs;
      for (;;) {
        if (!etcd.locks.has(name)) {
          etcd.locks.set(name, owner);
          return {
            release: async () => {
              if (etcd.locks.get(name) === owner) etcd.locks.delete(name);
            },
          };
        }
        if (Date.now() >= until) return undefined;
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async enableAuth() {
      serving();
      etcd.authEnabled = true;
    },
    close() {},
  };
}
