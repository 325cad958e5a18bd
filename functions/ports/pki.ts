// The cluster's etcd PKI material: the CA (cert and key) and the control plane's client certificate.
import type { KeyPairPem } from "../domain/pki.ts";

export interface ClusterPki {
  /** The cluster CA, created once (the first caller's wins; later and concurrent callers read it). */
  ca(): Promise<KeyPairPem>;
  /** The control plane's etcd client certificate and key (CN `root`), created once like the CA. */
  controlPlaneClient(): Promise<KeyPairPem>;
}
