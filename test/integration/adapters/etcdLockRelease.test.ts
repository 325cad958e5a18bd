// A lock whose lease revoke fails (its member went away between grant and release) is released by
// deleting the key it holds, not kept until the lease's TTL. Real etcd; the one failure is injected
// into the etcd3 client's Lease.revoke, since a real server cannot be made to refuse only that call.
import { Etcd3, Lease } from "etcd3";
import { afterEach, describe, expect, it, vi } from "vitest";
import { etcdClusterStore } from "../../../functions/adapters/etcd/clusterStore.ts";
import { lockKey } from "../../../functions/domain/etcdKeys.ts";
import { useRig } from "../../rig/index.ts";

const rig = useRig({ etcdMembers: 1 });
afterEach(() => vi.restoreAllMocks());

describe("etcd lock release", () => {
  it("deletes the lock key when revoking its lease fails, so the next holder need not wait the TTL", async () => {
    const store = etcdClusterStore({ endpoints: rig.etcd!.endpoints });
    const etcd = new Etcd3({ hosts: rig.etcd!.endpoints });
    try {
      const name = rig.unique("units");
      const lock = await store.tryLock(name, "first", { ttlSeconds: 60, waitMs: 1000 });
      expect(lock).toBeDefined();
      expect(await etcd.get(lockKey(name)).string()).toBe("first");
      const revoke = vi.spyOn(Lease.prototype, "revoke").mockRejectedValueOnce(new Error("14 UNAVAILABLE"));
      await lock!.release();
      expect(revoke).toHaveBeenCalledTimes(1);
      // The key is gone at once (its 60 s lease still lives), and another owner takes the lock now.
      expect(await etcd.get(lockKey(name)).string()).toBeNull();
      const t0 = Date.now();
      const next = await store.tryLock(name, "second", { ttlSeconds: 60, waitMs: 0 });
      expect(next).toBeDefined();
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(await etcd.get(lockKey(name)).string()).toBe("second");
      await next!.release();
      expect(await etcd.get(lockKey(name)).string()).toBeNull();
    } finally {
      store.close();
      etcd.close();
    }
  });

  it("never deletes a key another owner holds by then", async () => {
    const store = etcdClusterStore({ endpoints: rig.etcd!.endpoints });
    const etcd = new Etcd3({ hosts: rig.etcd!.endpoints });
    try {
      const name = rig.unique("units");
      const lock = await store.tryLock(name, "first", { ttlSeconds: 60, waitMs: 1000 });
      // Meanwhile the key was taken over (its lease expired and another owner took it).
      await etcd.delete().key(lockKey(name));
      await etcd.put(lockKey(name)).value("other");
      vi.spyOn(Lease.prototype, "revoke").mockRejectedValueOnce(new Error("14 UNAVAILABLE"));
      await lock!.release();
      expect(await etcd.get(lockKey(name)).string()).toBe("other");
    } finally {
      store.close();
      etcd.close();
    }
  });
});
