// The control plane's TLS settings for etcd: the cluster CA that members' certificates must chain to,
// and the client certificate (CN `root`) that members require, for gRPC clients and the JSON gateway.
import { Agent as HttpsAgent } from "node:https";
import type { IOptions } from "etcd3";

export interface EtcdClientTls {
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** The `etcd3` options that make a client speak TLS with the certificate (none: plain). */
export function grpcTlsOptions(tls: EtcdClientTls | undefined): Pick<IOptions, "credentials"> {
  if (!tls) return {};
  return {
    credentials: {
      rootCertificate: Buffer.from(tls.caPem),
      certChain: Buffer.from(tls.certPem),
      privateKey: Buffer.from(tls.keyPem),
    },
  };
}

/** A keep-alive agent for the members' JSON gateway and /health over https with the certificate. */
export function httpsAgent(tls: EtcdClientTls): HttpsAgent {
  return new HttpsAgent({ keepAlive: true, ca: tls.caPem, cert: tls.certPem, key: tls.keyPem });
}
