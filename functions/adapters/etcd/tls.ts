// The control plane's TLS settings for etcd: the cluster CA that members' certificates must chain to,
// and the client certificate (CN `root`) that members require, for gRPC clients and the JSON gateway.
import { Agent as HttpsAgent } from "node:https";
import type { IOptions } from "etcd3";

export interface EtcdClientTls {
  caPem: string;
  certPem: string;
  keyPem: string;
}

/**
 * The certificate, or how to load it: a function is called only when an https endpoint is first
 * dialled (a cluster on plain http never reads it), once per adapter; a failed load is retried.
 */
export type EtcdTlsSource = EtcdClientTls | (() => Promise<EtcdClientTls>);

/** The endpoints' transport is their scheme: https needs the certificate, plain http takes none. */
export function tlsResolver(source: EtcdTlsSource | undefined) {
  let loading: Promise<EtcdClientTls> | undefined;
  const load = (): Promise<EtcdClientTls> | undefined => {
    if (!source) return undefined;
    if (typeof source !== "function") return Promise.resolve(source);
    return (loading ??= source().catch((e: unknown) => {
      loading = undefined;
      throw e;
    }));
  };
  return {
    /** The certificate when any of `urls` is https (undefined when none is, or none was given). */
    async forUrls(urls: string[]): Promise<EtcdClientTls | undefined> {
      return urls.some((u) => u.startsWith("https:")) ? load() : undefined;
    },
    /** The certificate, loaded now (undefined when none was given). */
    load,
  };
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

/** One agent per adapter, made when an https request first needs it. */
export function lazyHttpsAgent(source: EtcdTlsSource | undefined) {
  const tls = tlsResolver(source);
  let agent: HttpsAgent | undefined;
  return {
    get: source ? async () => (agent ??= httpsAgent((await tls.load())!)) : undefined,
    destroy: () => agent?.destroy(),
  };
}
