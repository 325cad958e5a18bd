// Issues a launching node its etcd certificate: the node makes its key and a CSR, the control plane
// checks and signs it, the node installs the certificate. A node whose certificate is current keeps it.
import { InvalidInputError, DevclusterError } from "../domain/errors.ts";
import { CERT_CURRENT, renderCsrScript, renderInstallCertScript } from "../domain/nodeTls.ts";
import { csrFromOutput, signNodeCsr, type NodeIdentity } from "../domain/pki.ts";
import type { Commands } from "../ports/index.ts";
import type { Logger } from "../ports/log.ts";
import type { ClusterPki } from "../ports/pki.ts";

export interface NodeCertificateDeps {
  commands: Commands;
  pki: ClusterPki;
  now(): Date;
  commandTimeoutSeconds: number;
}

/** A node's command failed: what it said goes to the log, never the command's script (it holds no secret, but is long). */
export class NodeCommandError extends DevclusterError {}

/** The addresses a node's certificate names: its private address, and loopback (local clients dial it). */
export const certificateAddresses = (privateIp: string) => [privateIp, "127.0.0.1"];

/**
 * `domain`: the certificate also names `<instance id>.<domain>`.
 * `rotate`: a new key and certificate even when the node's are current (a suspected key leak, a
 * renewal before the launch would make one); the node keeps its pair until the new one is installed.
 */
export async function issueNodeCertificate(
  deps: NodeCertificateDeps,
  node: { instanceId: string; privateIp: string; domain?: string | undefined },
  log: Logger,
  opts: { rotate?: boolean } = {},
): Promise<"current" | "issued" | "rotated"> {
  // The control plane's own certificate is made with the CA (both once per cluster, kept per warm
  // container): every function reads it to reach members serving TLS, and none of them may make it.
  const [ca] = await Promise.all([deps.pki.ca(), deps.pki.controlPlaneClient()]);
  const identity: NodeIdentity = {
    instanceId: node.instanceId,
    ips: certificateAddresses(node.privateIp),
    // The node's name in the cluster zone: clients that find members through the discovery
    // records dial that name and check it.
    dnsNames: node.domain ? [`${node.instanceId}.${node.domain}`] : [],
  };
  const run = async (script: string, comment: string) => {
    const [r] = await deps.commands.run({
      instanceIds: [node.instanceId],
      script,
      comment,
      timeoutSeconds: deps.commandTimeoutSeconds,
    });
    if (!r || r.status !== "Success")
      throw new NodeCommandError(
        `${comment} on ${node.instanceId}: ${r?.status ?? "no result"} (${r?.exitCode ?? "?"}) ${r?.stderr.slice(-400) ?? ""}`,
      );
    return r.stdout;
  };

  const out = await run(
    renderCsrScript(identity, ca.certPem, { rotate: opts.rotate ?? false }),
    opts.rotate ? "devcluster etcd new key and CSR (rotation)" : "devcluster etcd key and CSR",
  );
  if (out.includes(CERT_CURRENT)) return "current";
  const csr = csrFromOutput(out);
  if (!csr) throw new InvalidInputError(`${node.instanceId} printed no CSR`);
  const certPem = await signNodeCsr(ca, csr, identity, deps.now());
  await run(renderInstallCertScript(certPem, ca.certPem), "devcluster etcd certificate install");
  log.info(opts.rotate ? "node certificate rotated" : "node certificate issued", {
    instanceId: node.instanceId,
  });
  return opts.rotate ? "rotated" : "issued";
}
