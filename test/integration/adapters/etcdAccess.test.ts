// etcd roles on a real member with TLS and client-certificate authentication: certificates issued
// the launch's way (key and CSR made on each node by the local command runner), authentication on,
// each worker's role from its placement. A worker's certificate reads /services/ but not /cluster/,
// writes its own instances' presence but not another node's, loses what a re-placement moves away;
// a client without a certificate is refused.
import { Etcd3, EtcdPermissionDeniedError } from "etcd3";
import { describe, expect, it } from "vitest";
import { etcdAccess } from "../../../functions/adapters/etcd/etcdAccess.ts";
import { nodeAccess } from "../../../functions/domain/etcdAccess.ts";
import type { KeyPairPem } from "../../../functions/domain/pki.ts";
import { useRig } from "../../rig/index.ts";
import { startTlsMember } from "../../rig/tlsMember.ts";

const rig = useRig();
const MAIN = "i-0bb0000000000a001";
const W1 = "i-0bb0000000000b001";
const W2 = "i-0bb0000000000b002";

/** `exec()` runs a builder (a put or delete) as a promise. */
async function outcome(p: Promise<unknown> | { exec(): Promise<unknown> }): Promise<string> {
  try {
    await ("exec" in p ? p.exec() : p);
    return "allowed";
  } catch (e) {
    return e instanceof EtcdPermissionDeniedError ? "denied" : `failed: ${(e as Error).message}`;
  }
}

describe("etcd roles with client certificates", () => {
  it("confines a worker to reading /services/ and writing its own instances' presence", async () => {
    const member = await startTlsMember({
      dir: rig.dir,
      token: rig.unique("t"),
      nodes: [
        { id: MAIN, ip: rig.block.address(41), role: "main" },
        { id: W1, ip: rig.block.address(42), role: "worker" },
        { id: W2, ip: rig.block.address(43), role: "worker" },
      ],
    });
    const clients: Etcd3[] = [];
    const client = (c?: KeyPairPem) => {
      const e = new Etcd3({
        hosts: [member.endpoint],
        dialTimeout: 1500,
        credentials: {
          rootCertificate: Buffer.from(member.ca.certPem),
          ...(c ? { certChain: Buffer.from(c.certPem), privateKey: Buffer.from(c.keyPem) } : {}),
        },
      });
      clients.push(e);
      return e;
    };
    try {
      const admin = client(member.controlPlane);
      await admin.put("/cluster/nodes/" + W1).value("{}");
      const access = etcdAccess(admin);
      await access.enableAuth();
      await access.enableAuth(); // again: nothing changes, nothing fails
      // /services/ read; its instance's record, plain keys and master; its own unit states.
      expect(await access.applyNodeAccess(nodeAccess(W1, [{ service: "hello", instance: "1" }]))).toEqual({
        granted: 5,
        revoked: 0,
      });
      await access.applyNodeAccess(nodeAccess(W2, [{ service: "hello", instance: "2" }]));
      // The control plane (root) still does everything.
      await admin.put("/services/hello/instances/2").value("w2's");
      expect(await admin.get("/cluster/nodes/" + W1).string()).toBe("{}");

      const w1 = client(member.nodeCredentials(W1));
      expect(await w1.get("/services/hello/instances/2").string()).toBe("w2's");
      expect(await outcome(w1.get("/cluster/nodes/" + W1).string())).toBe("denied");
      expect(await outcome(w1.getAll().prefix("/cluster/").keys())).toBe("denied");
      expect(await outcome(w1.put("/services/hello/instances/1").value("mine"))).toBe("allowed");
      expect(await outcome(w1.put("/services/hello/instances/1/port").value("8080"))).toBe("allowed");
      expect(await outcome(w1.put("/services/hello/master").value("mine"))).toBe("allowed");
      expect(await outcome(w1.put("/services/hello/instances/2").value("forged"))).toBe("denied");
      expect(await outcome(w1.delete().key("/services/hello/instances/2"))).toBe("denied");
      expect(await outcome(w1.put("/services/hello/instances/10").value("forged"))).toBe("denied");
      expect(await outcome(w1.put("/cluster/nodes/" + W2).value("forged"))).toBe("denied");
      expect(await admin.get("/services/hello/instances/2").string()).toBe("w2's");
      // Its unit states (unitStates.ts), on a lease as the publisher writes them; not another node's.
      const lease = w1.lease(30, { autoKeepAlive: false });
      expect(await outcome(lease.put(`/machines/${W1}/units`).value("hello@1.service active"))).toBe(
        "allowed",
      );
      expect(await outcome(w1.put(`/machines/${W2}/units`).value("forged"))).toBe("denied");
      await lease.revoke();

      // Applying the same plan changes nothing; a re-placement revokes what moved away.
      expect(await access.applyNodeAccess(nodeAccess(W1, [{ service: "hello", instance: "1" }]))).toEqual({
        granted: 0,
        revoked: 0,
      });
      expect(await access.applyNodeAccess(nodeAccess(W1, [{ service: "hello", instance: "3" }]))).toEqual({
        granted: 2,
        revoked: 2,
      });
      expect(await outcome(w1.put("/services/hello/instances/1").value("stale"))).toBe("denied");
      expect(await outcome(w1.put("/services/hello/instances/3").value("mine"))).toBe("allowed");

      // A gone node keeps nothing: its certificate still verifies, but its user does not exist.
      await access.removeNodeAccess(nodeAccess(W2, []));
      const w2 = client(member.nodeCredentials(W2));
      expect(await outcome(w2.get("/services/hello/instances/2").string())).not.toBe("allowed");

      // No certificate: refused at the handshake.
      expect(await outcome(client().get("/services/hello/instances/2").string())).toMatch(/^failed/);
    } finally {
      for (const c of clients) c.close();
      await member.stop();
    }
  });
});
