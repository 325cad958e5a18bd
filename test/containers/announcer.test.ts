// presence's announcer on a real etcd: a lease that expired while the node was too loaded to send
// its keep-alive in time is forgotten and the instance announced again on a new one, instead of the
// dead lease being retried forever (the instance would stay unannounced while healthy).
import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Announcer } from "../../containers/presence/src/announcer.ts";
import { createLogger } from "../../functions/runtime/log.ts";
import { instanceKey, PresenceRecordSchema } from "../../functions/domain/presence.ts";
import { useRig } from "../rig/index.ts";

const rig = useRig({ etcdMembers: 1 });
let etcd: Etcd3;

beforeAll(() => {
  etcd = new Etcd3({ hosts: rig.etcd!.endpoints });
});
afterAll(() => etcd?.close());

describe("presence announcer", () => {
  it("re-announces on a new lease when its lease expired or was revoked", async () => {
    const service = rig
      .unique("svc")
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, "-");
    const record = PresenceRecordSchema.parse({
      service,
      instance: "1",
      node: "i-0123456789abcdef0",
      privateIp: "127.0.0.9",
      port: 8080,
      ports: { http: 8080 },
    });
    const a = new Announcer(etcd, record, {
      ttl: 30,
      election: false,
      log: createLogger({}, () => undefined),
    });
    await a.refresh();
    const key = instanceKey(service, "1");
    const first = (await etcd.get(key).exec()).kvs[0]!.lease.toString();
    expect(first).not.toBe("0");
    // The lease ends behind the announcer's back, as an expiry does.
    await etcd.leaseClient.leaseRevoke({ ID: first });
    expect(await etcd.get(key).string()).toBeNull();
    await a.refresh();
    const again = (await etcd.get(key).exec()).kvs[0];
    expect(again, "announced again").toBeDefined();
    expect(again!.lease.toString()).not.toBe(first);
    await a.withdraw("test");
  });
});
