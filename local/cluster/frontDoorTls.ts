// The local cluster's HTTPS at the front door: a CA made for the cluster and a certificate for
// `*.<domain>` stored in SSM as an operator stores a bought one (the key a SecureString under the
// cluster key), named in cluster.env so every front door reads them. The CA's certificate is kept in
// the cluster's directory for the clients that should trust it (a test's browser, curl --cacert).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { clusterKeyAlias } from "../../functions/domain/clusterKey.ts";
import { createClusterCa, createServerCertificate } from "../../functions/domain/pki.ts";

export const FRONT_DOOR_CA_FILE = "frontdoor-ca.pem";

export async function storeFrontDoorTls(
  dir: string,
  cluster: string,
  domain: string,
): Promise<{ certParam: string; keyParam: string; caFile: string }> {
  const now = new Date();
  const ca = await createClusterCa(cluster, now, "front door");
  const server = await createServerCertificate(ca, [`*.${domain}`, domain], now);
  const certParam = `/devcluster/${cluster}/frontdoor/tls-cert`;
  const keyParam = `/devcluster/${cluster}/frontdoor/tls-key`;
  const ssm = new SSMClient({});
  // The chain nginx serves: the certificate, then its issuer, each PEM block on lines of its own
  // (the library's PEM has no final newline; glued together nginx refuses the file).
  await ssm.send(
    new PutParameterCommand({
      Name: certParam,
      Type: "String",
      Value: [server.certPem, ca.certPem].map((p) => p.trimEnd() + "\n").join(""),
      Overwrite: true,
      Description: "devcluster front door: TLS certificate chain (local CA)",
    }),
  );
  await ssm.send(
    new PutParameterCommand({
      Name: keyParam,
      Type: "SecureString",
      Value: server.keyPem,
      Overwrite: true,
      Description: "devcluster front door: TLS private key",
      KeyId: clusterKeyAlias(cluster),
    }),
  );
  const caFile = join(dir, FRONT_DOOR_CA_FILE);
  writeFileSync(caFile, ca.certPem);
  return { certParam, keyParam, caFile };
}
