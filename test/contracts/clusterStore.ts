// What every ClusterStore does (records, keys, locks, membership), run against the in-memory fake and
// the etcd adapter over real etcd (test/integration/contracts/clusterStore.test.ts).
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ClusterNotReadyError, LearnerNotReadyError } from "../../functions/domain/errors.ts";
import { etcdPeerUrl, type NodeRecord } from "../../functions/domain/model.ts";
import type { ClusterStore } from "../../functions/ports/cluster.ts";

export interface ClusterStoreSubject {
  /** A store over a healthy cluster of started voters and no learner. */
  store(): ClusterStore;
  /** A store over endpoints where no etcd answers. */
  unreachable(): ClusterStore;
  /** An address no member uses (a learner added there is never started). */
  spareIp: string;
}

const uniq = () => randomBytes(4).toString("hex");
const record = (instanceId: string, state: NodeRecord["state"] = "active"): NodeRecord => ({
  instanceId,
  role: "worker",
  group: "g-worker",
  zone: "us-east-1a",
  privateIp: "127.0.0.9",
  state,
  updatedAt: "2026-01-01T00:00:00.000Z",
});

export function clusterStoreContract(name: string, subject: () => ClusterStoreSubject): void {
  describe(`ClusterStore contract: ${name}`, () => {
    it("writes, reads, lists and deletes node records; each write returns a higher revision", async () => {
      const s = subject().store();
      const id = `i-${uniq()}`;
      expect(await s.getNode(id)).toBeUndefined();
      const r1 = Number(await s.putNode(record(id, "joining")));
      const r2 = Number(await s.putNode(record(id, "active")));
      expect(r2).toBeGreaterThan(r1);
      expect(await s.getNode(id)).toEqual(record(id, "active"));
      const listed = await s.listNodes();
      expect(listed.nodes).toContainEqual(record(id, "active"));
      expect(Number(listed.revision)).toBeGreaterThanOrEqual(r2);
      await s.deleteNode(id);
      expect(await s.getNode(id)).toBeUndefined();
      expect((await s.listNodes()).nodes.map((n) => n.instanceId)).not.toContain(id);
    });

    it("reads back what it writes under any key; a missing key is undefined", async () => {
      const s = subject().store();
      const key = `/contract/${uniq()}`;
      expect(await s.getKey(key)).toBeUndefined();
      const rev = Number(await s.putKey(key, "v1"));
      expect(rev).toBeGreaterThan(0);
      expect(await s.getKey(key)).toBe("v1");
      expect(Number(await s.putKey(key, ""))).toBeGreaterThan(rev);
      expect(await s.getKey(key)).toBe("");
    });

    it("a lock has one holder: a second try fails while it is held, and succeeds after release", async () => {
      const s = subject().store();
      const name = `contract-${uniq()}`;
      const a = await s.tryLock(name, "a", { ttlSeconds: 10, waitMs: 0 });
      expect(a).toBeDefined();
      expect(await s.tryLock(name, "b", { ttlSeconds: 10, waitMs: 0 })).toBeUndefined();
      expect(await s.tryLock(name, "b", { ttlSeconds: 10, waitMs: 150 })).toBeUndefined();
      // A waiter gets the lock once the holder lets go within its wait.
      const waiting = s.tryLock(name, "c", { ttlSeconds: 10, waitMs: 5000 });
      setTimeout(() => void a!.release(), 100);
      const c = await waiting;
      expect(c).toBeDefined();
      await c!.release();
      const d = await s.tryLock(name, "d", { ttlSeconds: 10, waitMs: 0 });
      expect(d).toBeDefined();
      await d!.release();
    });

    it("lists started voters as healthy, with names and client URLs", async () => {
      const s = subject().store();
      const members = (await s.memberList())!;
      expect(members.length).toBeGreaterThan(0);
      for (const m of members) {
        expect(m.isLearner).toBe(false);
        expect(m.name).not.toBe("");
        expect(m.id).toMatch(/^\d+$/);
        expect(m.clientUrls[0]).toMatch(/^http:\/\/127\.\d+\.\d+\.\d+:2379$/);
      }
      expect([...(await s.healthyMembers(members))].sort()).toEqual(members.map((m) => m.id).sort());
    });

    it("adds a learner (one at a time), refuses to promote it before it has started, removes it idempotently", async () => {
      const sub = subject();
      const s = sub.store();
      const before = (await s.memberList())!;
      const peerUrl = etcdPeerUrl(sub.spareIp);
      const added = await s.addLearner(peerUrl);
      try {
        expect(added.member).toMatchObject({
          isLearner: true,
          peerUrls: [peerUrl],
          name: "",
          clientUrls: [],
        });
        expect(added.members.map((m) => m.id).sort()).toEqual(
          [...before.map((m) => m.id), added.member.id].sort(),
        );
        expect((await s.memberList())!.find((m) => m.id === added.member.id)?.isLearner).toBe(true);
        // An unstarted learner has no client URL: never healthy.
        expect((await s.healthyMembers(added.members)).has(added.member.id)).toBe(false);
        await expect(s.addLearner(etcdPeerUrl(sub.spareIp.replace(/\d+$/, "250")))).rejects.toBeInstanceOf(
          ClusterNotReadyError,
        );
        await expect(s.promote(added.member.id)).rejects.toBeInstanceOf(LearnerNotReadyError);
      } finally {
        await s.removeMember(added.member.id);
      }
      expect((await s.memberList())!.map((m) => m.id).sort()).toEqual(before.map((m) => m.id).sort());
      await s.removeMember(added.member.id); // already gone: no error
    });

    it("promoting a member that is already a voter answers the member list (a concurrent promotion won)", async () => {
      const s = subject().store();
      const [voter] = (await s.memberList())!;
      const after = await s.promote(voter!.id);
      expect(after.find((m) => m.id === voter!.id)?.isLearner).toBe(false);
    });

    it("answers null for the member list when no endpoint answers", async () => {
      const s = subject().unreachable();
      expect(await s.memberList()).toBeNull();
      s.close();
    });
  });
}
