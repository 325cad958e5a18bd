// etcd roles on a real member with TLS and client-certificate authentication: certificates issued
// the launch's way (key and CSR made on each node by the local command runner), authentication on,
// each worker's role from its placement. A worker's certificate reads /services/ but not /cluster/,
// writes its own instances' presence but not another node's, loses what a re-placement moves away;
// a client without a certificate is refused.
import { Etcd3, EtcdPermissionDeniedError } from "etcd3";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { etcdAccess } from "../../../functions/adapters/etcd/etcdAccess.ts";
import { nodeAccess } from "../../../functions/domain/etcdAccess.ts";
import { etcdEnv, renderEnvFile } from "../../../functions/domain/etcdEnv.ts";
import { etcdTlsClientUrl } from "../../../functions/domain/model.ts";
import { NODE_PKI_DIR } from "../../../functions/domain/nodeTls.ts";
import {
  CONTROL_PLANE_USER,
  createClientCertificate,
  createClusterCa,
  type KeyPairPem,
} from "../../../functions/domain/pki.ts";
import { pollUntil } from "../../../functions/domain/poll.ts";
import { issueNodeCertificate } from "../../../functions/operations/nodeCertificate.ts";
import type { ClusterPki } from "../../../functions/ports/pki.ts";
import { createLocalCommands } from "../../../local/commands.ts";
import { nodeDir, prepareLocalNode } from "../../../local/node.ts";
import { useRig } from "../../rig/index.ts";

const rig = useRig();
const quiet = { info() {}, warn() {}, error() {}, debug() {} } as never;
const MAIN = "i-0bb0000000000a001";
const W1 = "i-0bb0000000000b001";
const W2 = "i-0bb0000000000b002";

/** What each node's programs hold: its own certificate and key, from its PKI directory. */
const nodeCredentials = (root: string, id: string): KeyPairPem => {
  const dir = join(nodeDir(root, id), NODE_PKI_DIR);
  return {
    certPem: readFileSync(join(dir, "node.crt"), "utf8"),
    keyPem: readFileSync(join(dir, "node.key"), "utf8"),
  };
};

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
    const now = () => new Date();
    const ca = await createClusterCa("dev", now());
    const controlPlane = await createClientCertificate(ca, CONTROL_PLANE_USER, now());
    const pki: ClusterPki = { ca: async () => ca, controlPlaneClient: async () => controlPlane };
    const root = join(rig.dir, "cluster");
    const commands = createLocalCommands({ root });
    const ips = { [MAIN]: rig.block.address(41), [W1]: rig.block.address(42), [W2]: rig.block.address(43) };
    for (const [id, role] of [
      [MAIN, "main"],
      [W1, "worker"],
      [W2, "worker"],
    ] as const) {
      prepareLocalNode(root, id, role);
      await issueNodeCertificate(
        { commands, pki, now, commandTimeoutSeconds: 30 },
        { instanceId: id, privateIp: ips[id] },
        quiet,
      );
    }
    const ip = ips[MAIN];
    const env = etcdEnv({
      name: MAIN,
      ip,
      dataDir: "$ROOT/var/lib/etcd",
      initialCluster: [{ name: MAIN, ip }],
      state: "new",
      token: rig.unique("t"),
      tlsDir: `$ROOT${NODE_PKI_DIR}`,
    });
    writeFileSync(
      join(nodeDir(root, MAIN), "etc/etcd/etcd.env"),
      renderEnvFile(env).replaceAll("$ROOT", nodeDir(root, MAIN)),
    );
    const [started] = await commands.run({
      instanceIds: [MAIN],
      script: "systemctl daemon-reload\nsystemctl enable --now etcd-member.service",
      comment: "start",
    });
    expect(started?.status).toBe("Success");

    const clients: Etcd3[] = [];
    const client = (c?: KeyPairPem) => {
      const e = new Etcd3({
        hosts: [etcdTlsClientUrl(ip)],
        dialTimeout: 1500,
        credentials: {
          rootCertificate: Buffer.from(ca.certPem),
          ...(c ? { certChain: Buffer.from(c.certPem), privateKey: Buffer.from(c.keyPem) } : {}),
        },
      });
      clients.push(e);
      return e;
    };
    try {
      const admin = client(controlPlane);
      // A member answers within seconds of its start; 30 s covers a loaded machine.
      expect(
        await pollUntil(
          async () =>
            admin
              .put("/cluster/nodes/" + W1)
              .value("{}")
              .then(
                () => true,
                () => undefined,
              ),
          { timeoutMs: 30_000, intervalMs: 200 },
        ),
      ).toBe(true);
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

      const w1 = client(nodeCredentials(root, W1));
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
      const w2 = client(nodeCredentials(root, W2));
      expect(await outcome(w2.get("/services/hello/instances/2").string())).not.toBe("allowed");

      // No certificate: refused at the handshake.
      expect(await outcome(client().get("/services/hello/instances/2").string())).toMatch(/^failed/);
    } finally {
      for (const c of clients) c.close();
    }
  });
});
