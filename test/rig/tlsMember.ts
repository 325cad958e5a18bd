// One etcd member serving client and peer TLS with required client certificates, set up the
// launch's way: a cluster CA, each node's key and CSR made on the node (the local command runner),
// certificates signed by the control plane, the member started by the launch's start script.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createEtcdSnapshotApi } from "../../functions/adapters/etcd/snapshots.ts";
import type { EtcdClientTls } from "../../functions/adapters/etcd/tls.ts";
import { etcdStartScript } from "../../functions/domain/etcdStartScript.ts";
import { pollUntil } from "../../functions/domain/poll.ts";
import { etcdTlsClientUrl } from "../../functions/domain/model.ts";
import { NODE_PKI_DIR } from "../../functions/domain/nodeTls.ts";
import {
  CONTROL_PLANE_USER,
  createClientCertificate,
  createClusterCa,
  type KeyPairPem,
} from "../../functions/domain/pki.ts";
import { issueNodeCertificate } from "../../functions/operations/nodeCertificate.ts";
import type { ClusterPki } from "../../functions/ports/pki.ts";
import { createLocalCommands } from "../../local/commands.ts";
import { nodeDir, prepareLocalNode } from "../../local/node.ts";

const quiet = { info() {}, warn() {}, error() {}, debug() {} } as never;

async function inMemoryPki(now: Date): Promise<ClusterPki> {
  const ca = await createClusterCa("dev", now);
  const controlPlane = { ...(await createClientCertificate(ca, CONTROL_PLANE_USER, now)), caPem: ca.certPem };
  return { ca: async () => ca, controlPlaneClient: async () => controlPlane };
}

export interface TlsMember {
  ca: KeyPairPem;
  /** The control plane's client certificate (CN root). */
  controlPlane: KeyPairPem;
  /** The same, with the CA, as the functions' etcd adapters take it. */
  controlPlaneTls: EtcdClientTls;
  /** The member's https client URL. */
  endpoint: string;
  /** The directory holding the nodes' directories. */
  root: string;
  /** The files in a node's PKI directory, as a unit mounts them. */
  pkiFiles(instanceId: string): { ca: string; cert: string; key: string };
  /** A node's own certificate and key (what its programs hold). */
  nodeCredentials(instanceId: string): KeyPairPem;
  stop(): Promise<void>;
}

/** Until the member at `endpoint` reports itself healthy over https with `tls` (true), or 30 s pass. */
export const untilHealthy = (endpoint: string, tls: EtcdClientTls) => {
  const api = createEtcdSnapshotApi(tls);
  // A member answers within seconds of its start; 30 s covers a loaded machine.
  return pollUntil(async () => ((await api.healthy(endpoint)) ? true : undefined), {
    timeoutMs: 30_000,
    intervalMs: 200,
  });
};

/**
 * The member runs on `nodes[0]` (a main node); every node gets its certificate (a node that already
 * holds a current one keeps it). `pki`: the cluster's CA and control-plane certificate (default: new
 * ones in memory). Returns once the member is healthy.
 */
export async function startTlsMember(opts: {
  dir: string;
  token: string;
  nodes: { id: string; ip: string; role: "main" | "worker" | "data" }[];
  pki?: ClusterPki;
}): Promise<TlsMember> {
  const now = () => new Date();
  const pki: ClusterPki = opts.pki ?? (await inMemoryPki(now()));
  const [ca, controlPlane] = [await pki.ca(), await pki.controlPlaneClient()];
  const root = join(opts.dir, "cluster");
  const commands = createLocalCommands({ root });
  for (const n of opts.nodes) {
    prepareLocalNode(root, n.id, n.role);
    await issueNodeCertificate(
      { commands, pki, now, commandTimeoutSeconds: 30 },
      { instanceId: n.id, privateIp: n.ip },
      quiet,
    );
  }
  const main = opts.nodes[0]!;
  const [started] = await commands.run({
    instanceIds: [main.id],
    script: etcdStartScript({
      name: main.id,
      ip: main.ip,
      initialCluster: [{ name: main.id, ip: main.ip }],
      state: "new",
      token: opts.token,
      tls: true,
    }),
    comment: "start etcd with TLS",
  });
  if (started?.status !== "Success") throw new Error(`etcd did not start: ${JSON.stringify(started)}`);
  const controlPlaneTls: EtcdClientTls = controlPlane;
  const endpoint = etcdTlsClientUrl(main.ip);
  if (!(await untilHealthy(endpoint, controlPlaneTls)))
    throw new Error(`etcd at ${endpoint} is not healthy after 30 s`);
  const pkiFiles = (id: string) => {
    const d = join(nodeDir(root, id), NODE_PKI_DIR);
    return { ca: join(d, "ca.crt"), cert: join(d, "node.crt"), key: join(d, "node.key") };
  };
  return {
    ca,
    controlPlane,
    controlPlaneTls,
    endpoint,
    root,
    pkiFiles,
    nodeCredentials: (id) => ({
      certPem: readFileSync(pkiFiles(id).cert, "utf8"),
      keyPem: readFileSync(pkiFiles(id).key, "utf8"),
    }),
    stop: async () => {
      await commands.run({
        instanceIds: [main.id],
        script: "systemctl stop etcd-member.service",
        comment: "stop",
      });
    },
  };
}
