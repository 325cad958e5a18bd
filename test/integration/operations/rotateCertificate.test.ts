// Rotating a node's etcd certificate with TLS on: `lifecycle`'s rotate-certificate request gives the
// node a new key (made on the node) and a certificate for it while a real member serves TLS with
// required client certificates; the member takes its own new pair for new connections without a
// restart, the worker's programs reach etcd with theirs, and a request for an instance outside the
// cluster's groups, or a malformed one, changes nothing.
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { connect } from "node:tls";
import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventRefusedError, InvalidInputError } from "../../../functions/domain/errors.ts";
import {
  CONTROL_PLANE_USER,
  createClientCertificate,
  createClusterCa,
} from "../../../functions/domain/pki.ts";
import { pollUntil } from "../../../functions/domain/poll.ts";
import { DEFAULT_TIMING, type LifecycleDeps } from "../../../functions/operations/deps.ts";
import { rotateCertificate } from "../../../functions/operations/rotateCertificate.ts";
import type { ClusterPki } from "../../../functions/ports/pki.ts";
import { createLocalCommands } from "../../../local/commands.ts";
import { FakeGroups } from "../../fakes/groups.ts";
import { useRig } from "../../rig/index.ts";
import { startTlsMember, untilHealthy, type TlsMember } from "../../rig/tlsMember.ts";

const rig = useRig();
const quiet = { info() {}, warn() {}, error() {}, debug() {}, child: () => quiet } as never;
let member: TlsMember;
let deps: LifecycleDeps;
let main: string;
let worker: string;
let groups: FakeGroups;

beforeAll(async () => {
  const ca = await createClusterCa("dev", new Date());
  const cp = { ...(await createClientCertificate(ca, CONTROL_PLANE_USER, new Date())), caPem: ca.certPem };
  const pki: ClusterPki = { ca: async () => ca, controlPlaneClient: async () => cp };
  groups = new FakeGroups({ prefix: rig.block.prefix, cluster: "dev" });
  groups.createGroup("m", "main");
  groups.createGroup("w", "worker");
  [main] = groups.scaleTo("m", 1) as [string];
  [worker] = groups.scaleTo("w", 1) as [string];
  const ip = (id: string) => groups.instances.get(id)!.privateIp;
  member = await startTlsMember({
    dir: rig.dir,
    token: rig.unique("t"),
    nodes: [
      { id: main, ip: ip(main), role: "main" },
      { id: worker, ip: ip(worker), role: "worker" },
    ],
    pki,
  });
  deps = {
    clusterName: "dev",
    groupNames: { main: "m", worker: "w", data: "d" },
    groups,
    pki,
    commands: createLocalCommands({ root: member.root }),
    now: () => new Date(),
    timing: DEFAULT_TIMING,
  } as unknown as LifecycleDeps;
}, 90_000);
afterAll(async () => member?.stop());

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

/** The certificate the member presents to a new connection (it reads its files per handshake). */
function servedCertificate(): Promise<string> {
  const u = new URL(member.endpoint);
  const tls = member.controlPlaneTls;
  return new Promise((resolve, reject) => {
    const s = connect(
      { host: u.hostname, port: Number(u.port), ca: tls.caPem, cert: tls.certPem, key: tls.keyPem },
      () => {
        resolve(s.getPeerX509Certificate()!.fingerprint256);
        s.end();
      },
    );
    s.on("error", reject);
  });
}

describe("rotate-certificate", () => {
  it("gives a worker a new key and certificate, with which its programs reach etcd", async () => {
    const before = member.nodeCredentials(worker);
    expect(await rotateCertificate({ mode: "rotate-certificate", instanceId: worker }, deps, quiet)).toEqual({
      instanceId: worker,
      result: "rotated",
    });
    const after = member.nodeCredentials(worker);
    expect(after.keyPem).not.toBe(before.keyPem);
    const cert = new X509Certificate(after.certPem);
    expect(cert.subject).toBe(`CN=${worker}`);
    expect(cert.checkPrivateKey(createPrivateKey(after.keyPem))).toBe(true);
    expect(cert.verify(new X509Certificate(member.ca.certPem).publicKey)).toBe(true);
    const client = new Etcd3({
      hosts: [member.endpoint],
      dialTimeout: 2000,
      credentials: {
        rootCertificate: Buffer.from(member.ca.certPem),
        certChain: Buffer.from(after.certPem),
        privateKey: Buffer.from(after.keyPem),
      },
    });
    try {
      await client.put("/services/rotation/probe").value(worker);
      expect(await client.get("/services/rotation/probe").string()).toBe(worker);
    } finally {
      client.close();
    }
  });

  it("gives the member's own node a new pair, which the member serves to new connections without a restart", async () => {
    const before = member.nodeCredentials(main);
    expect(await servedCertificate()).toBe(fingerprint(before.certPem));
    await rotateCertificate({ mode: "rotate-certificate", instanceId: main }, deps, quiet);
    const after = member.nodeCredentials(main);
    expect(after.certPem).not.toBe(before.certPem);
    // etcd loads its files again for each handshake; 30 s covers a loaded machine.
    const served = await pollUntil(
      async () => ((await servedCertificate()) === fingerprint(after.certPem) ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(served).toBe(true);
    expect(await untilHealthy(member.endpoint, member.controlPlaneTls)).toBe(true);
  });

  it("refuses an instance outside the cluster's groups and a malformed request, changing nothing", async () => {
    const files = () => member.nodeCredentials(worker);
    const before = files();
    await expect(
      rotateCertificate({ mode: "rotate-certificate", instanceId: "i-0fff000000000f001" }, deps, quiet),
    ).rejects.toBeInstanceOf(EventRefusedError);
    await expect(
      rotateCertificate({ mode: "rotate-certificate", instanceId: "../etc" }, deps, quiet),
    ).rejects.toBeInstanceOf(InvalidInputError);
    await expect(
      rotateCertificate({ mode: "rotate-certificate", instanceId: worker, extra: 1 }, deps, quiet),
    ).rejects.toBeInstanceOf(InvalidInputError);
    // A node of the group that is not in service (terminating) is refused too.
    groups.groups.get("w")!.members[0]!.lifecycleState = "Terminating:Wait";
    await expect(
      rotateCertificate({ mode: "rotate-certificate", instanceId: worker }, deps, quiet),
    ).rejects.toBeInstanceOf(EventRefusedError);
    groups.groups.get("w")!.members[0]!.lifecycleState = "InService";
    expect(files()).toEqual(before);
    expect(readFileSync(member.pkiFiles(worker).cert, "utf8")).toBe(before.certPem);
  });
});
