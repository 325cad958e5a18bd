// The cluster's etcd PKI material: the CA (cert and key) and the control plane's client certificate.
import type { ClientTlsPem, KeyPairPem } from "../domain/pki.ts";

export interface ClusterPki {
  /** The cluster CA, created once (the first caller's wins; later and concurrent callers read it). */
  ca(): Promise<KeyPairPem>;
  /**
   * The control plane's etcd client certificate and key (CN `root`) with the CA's certificate,
   * created once like the CA. Every function reads it to reach TLS members; only this holds the CA.
   */
  controlPlaneClient(): Promise<ClientTlsPem>;
}
