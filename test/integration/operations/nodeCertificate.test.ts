// The etcd PKI end to end on real parts: the CA and the control plane's client certificate created
// once in SSM (moto, as a role allowed only those parameters), a node's key and CSR made on the node
// by the local command runner with the node's openssl, the certificate signed and installed, and a
// real etcd member started with it: client-certificate authentication on, a client without a
// certificate (or with one from another CA) refused.
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { Etcd3 } from "etcd3";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  ssmClusterPki,
  ssmControlPlaneTls,
  pkiParameterNames,
} from "../../../functions/adapters/aws/ssmClusterPki.ts";
import { NODE_PKI_DIR } from "../../../functions/domain/nodeTls.ts";
import {
  createClientCertificate,
  createClusterCa,
  describeCertificate,
} from "../../../functions/domain/pki.ts";
import { issueNodeCertificate } from "../../../functions/operations/nodeCertificate.ts";
import type { Commands, CommandRequest } from "../../../functions/ports/index.ts";
import { createLocalCommands } from "../../../local/commands.ts";
import { nodeDir, prepareLocalNode } from "../../../local/node.ts";
import { useRig } from "../../rig/index.ts";
import { startTlsMember } from "../../rig/tlsMember.ts";

const rig = useRig({ moto: true });
const quiet = { info() {}, warn() {}, error() {}, debug() {} } as never;

/** The runner, recording every script and output (to show the node's key never passes through them). */
function recorded(inner: Commands) {
  const seen: string[] = [];
  const commands: Commands = {
    async run(req: CommandRequest) {
      seen.push(req.script);
      const out = await inner.run(req);
      for (const r of out) seen.push(r.stdout, r.stderr);
      return out;
    },
  };
  return { commands, seen };
}

async function pkiAsRole() {
  // moto matches SSM statements against "*" only (local/moto.ts motoEvaluable); the actions are what
  // the control plane's roles hold for these parameters.
  const credentials = await rig.roleCredentials([
    { Effect: "Allow", Action: ["ssm:GetParameter", "ssm:PutParameter"], Resource: "*" },
  ]);
  return new SSMClient({ region: "eu-west-1", credentials, maxAttempts: 2 });
}

describe("cluster PKI in SSM", () => {
  it("when two cold containers race, both end up with the one CA and client certificate stored", async () => {
    const cluster = rig.unique("c").slice(0, 30).toLowerCase();
    const ssm = await pkiAsRole();
    const [a, b] = [ssmClusterPki(ssm, cluster), ssmClusterPki(ssm, cluster)];
    const [caA, caB] = await Promise.all([a.ca(), b.ca()]);
    expect(caA).toEqual(caB);
    const [clA, clB] = await Promise.all([a.controlPlaneClient(), b.controlPlaneClient()]);
    expect(clA).toEqual(clB);
    expect(describeCertificate(clA.certPem).cn).toBe("root");
    // Stored as a SecureString (moto's encryption is a stand-in, so only the type is checked), and
    // what a third container reads is the same.
    const raw = await ssm.send(new GetParameterCommand({ Name: pkiParameterNames(cluster).ca }));
    expect(raw.Parameter?.Type).toBe("SecureString");
    expect(await ssmClusterPki(ssm, cluster).ca()).toEqual(caA);
  });
});

describe("a node's etcd certificate", () => {
  it("is made from the node's own key, kept across retries, and lets only certified clients into etcd", async () => {
    const cluster = rig.unique("c").slice(0, 30).toLowerCase();
    const pki = ssmClusterPki(await pkiAsRole(), cluster);
    const root = join(rig.dir, "cluster"); // where startTlsMember keeps its nodes
    const id = "i-0aa0000000000c001";
    prepareLocalNode(root, id, "main");
    const ip = rig.block.address(31);
    const { commands, seen } = recorded(createLocalCommands({ root }));
    const deps = { commands, pki, now: () => new Date(), commandTimeoutSeconds: 30 };

    expect(
      await issueNodeCertificate(deps, { instanceId: id, privateIp: ip, domain: "dev.internal" }, quiet),
    ).toBe("issued");
    // The first issue also made the control plane's certificate, which the other functions only read.
    const cp = await ssmControlPlaneTls(new SSMClient({ maxAttempts: 2 }), cluster)();
    expect(describeCertificate(cp.certPem).cn).toBe("root");
    expect(cp.caPem).toBe((await pki.ca()).certPem);
    const dir = join(nodeDir(root, id), NODE_PKI_DIR);
    const key = readFileSync(join(dir, "node.key"), "utf8");
    expect(statSync(join(dir, "node.key")).mode & 0o077).toBe(0);
    const cert = describeCertificate(readFileSync(join(dir, "node.crt"), "utf8"));
    expect(cert.cn).toBe(id);
    // Its addresses, and its name in the cluster zone (clients that found it by SRV check that).
    expect(cert.sans).toEqual([`dns:${id}.dev.internal`, `ip:${ip}`, "ip:127.0.0.1"]);
    // The key never passed through a command's script or output.
    const body = key.split("\n").slice(1, -2).join("");
    expect(body.length).toBeGreaterThan(40);
    for (const text of seen) expect(text.replace(/\n/g, "")).not.toContain(body.slice(0, 40));

    // A retry (the same launch delivered again) keeps key and certificate.
    const certBefore = readFileSync(join(dir, "node.crt"), "utf8");
    expect(await issueNodeCertificate(deps, { instanceId: id, privateIp: ip }, quiet)).toBe("current");
    expect(readFileSync(join(dir, "node.crt"), "utf8")).toBe(certBefore);

    // A real member with client and peer TLS and client-certificate authentication, started the
    // launch's way on this node (its certificate is current, so it is kept).
    const member = await startTlsMember({
      dir: rig.dir,
      token: rig.unique("t"),
      nodes: [{ id, ip, role: "main" }],
      pki,
    });
    expect(readFileSync(join(dir, "node.crt"), "utf8")).toBe(certBefore);
    const ca = await pki.ca();
    const client = (c?: { certPem: string; keyPem: string }) =>
      new Etcd3({
        hosts: [member.endpoint],
        dialTimeout: 1500,
        credentials: {
          rootCertificate: Buffer.from(ca.certPem),
          ...(c ? { certChain: Buffer.from(c.certPem), privateKey: Buffer.from(c.keyPem) } : {}),
        },
      });
    const good = client(await pki.controlPlaneClient());
    try {
      await good.put("/tls/probe").value("ok");
      expect(await good.get("/tls/probe").string()).toBe("ok");
    } finally {
      good.close();
    }
    const refused = async (c: Etcd3) => {
      try {
        await c.get("/tls/probe").string();
        return "answered";
      } catch {
        return "refused";
      } finally {
        c.close();
      }
    };
    expect(await refused(client())).toBe("refused");
    const foreign = await createClusterCa("other", new Date());
    expect(await refused(client(await createClientCertificate(foreign, "root", new Date())))).toBe("refused");

    // A new address (a node replaced on another IP keeps nothing, but a moved one re-issues).
    const moved = rig.block.address(32);
    expect(await issueNodeCertificate(deps, { instanceId: id, privateIp: moved }, quiet)).toBe("issued");
    expect(readFileSync(join(dir, "node.key"), "utf8")).toBe(key);
    expect(describeCertificate(readFileSync(join(dir, "node.crt"), "utf8")).sans).toContain(`ip:${moved}`);
    await member.stop();
  });
});
