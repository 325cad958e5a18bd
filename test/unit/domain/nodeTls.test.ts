// Node scripts for etcd certificates and the TLS start settings: what they embed is checked first.
import { describe, expect, it } from "vitest";
import { etcdEnv } from "../../../functions/domain/etcdEnv.ts";
import { InvariantError } from "../../../functions/domain/errors.ts";
import { etcdHttpBase } from "../../../functions/domain/model.ts";
import {
  CERT_CURRENT,
  NODE_PKI_DIR,
  renderCsrScript,
  renderInstallCertScript,
} from "../../../functions/domain/nodeTls.ts";
import { certificatePublicKey, createClusterCa } from "../../../functions/domain/pki.ts";

const ca = await createClusterCa("dev", new Date("2026-11-26T12:00:00Z"));
const node = { instanceId: "i-0123456789abcdef0", ips: ["10.0.1.5", "127.0.0.1"] };

describe("renderCsrScript", () => {
  it("asks for the instance's CN and its addresses, and says when the certificate is current", () => {
    const s = renderCsrScript(node, ca.certPem);
    expect(s).toContain('-subj "/CN=i-0123456789abcdef0" -addext "subjectAltName=IP:10.0.1.5,IP:127.0.0.1"');
    expect(s).toContain(`echo ${CERT_CURRENT}`);
    expect(s).toContain(`$ROOT${NODE_PKI_DIR}`);
    expect(s).toContain(ca.certPem.trim());
    expect(s).not.toContain("PRIVATE KEY");
  });

  it.each([
    ["an instance id with shell in it", { ...node, instanceId: "i-0123$(reboot)" }],
    ["an address that is not IPv4", { ...node, ips: ["10.0.1.5;reboot"] }],
    ["no address", { ...node, ips: [] }],
  ])("refuses %s", (_what, n) => {
    expect(() => renderCsrScript(n, ca.certPem)).toThrow(InvariantError);
  });

  it("refuses a CA that is not plain PEM (it goes into a here-document)", () => {
    expect(() => renderCsrScript(node, ca.certPem + "DEVCLUSTER_PEM\nreboot\n")).toThrow(InvariantError);
  });
});

describe("renderInstallCertScript", () => {
  it("checks the certificate against the node's key before replacing anything", () => {
    const s = renderInstallCertScript(ca.certPem, ca.certPem);
    // The certificate's public key, read here, against the one kept beside the key (openssl only
    // for a key made before that); both before anything is moved into place.
    expect(s).toContain(`[ "$p" = '${certificatePublicKey(ca.certPem)}' ]`);
    expect(s.indexOf('"$d/node.pub"')).toBeLessThan(s.indexOf('mv "$d/ca.crt.tmp"'));
    expect(s.indexOf("openssl pkey")).toBeLessThan(s.indexOf('mv "$d/node.crt.tmp"'));
    expect(() => renderInstallCertScript("x", ca.certPem)).toThrow(InvariantError);
  });
});

describe("etcdEnv with TLS", () => {
  it("serves clients and peers over https and requires certificates from the CA on both", () => {
    const env = etcdEnv({
      name: "i-1",
      ip: "10.0.0.1",
      dataDir: "/var/lib/etcd",
      initialCluster: [
        { name: "i-1", ip: "10.0.0.1" },
        { name: "i-2", ip: "10.0.0.2" },
      ],
      state: "new",
      token: "t",
      tlsDir: "/etc/devcluster/pki",
    });
    expect(env).toMatchObject({
      ETCD_LISTEN_CLIENT_URLS: "https://10.0.0.1:2379",
      // gRPC alone on the client port; HTTP on a listener of its own (decision 79)
      ETCD_LISTEN_CLIENT_HTTP_URLS: "https://10.0.0.1:2382",
      ETCD_ADVERTISE_CLIENT_URLS: "https://10.0.0.1:2379",
      ETCD_LISTEN_PEER_URLS: "https://10.0.0.1:2380",
      ETCD_INITIAL_CLUSTER: "i-1=https://10.0.0.1:2380,i-2=https://10.0.0.2:2380",
      ETCD_CLIENT_CERT_AUTH: "true",
      ETCD_PEER_CLIENT_CERT_AUTH: "true",
      ETCD_TRUSTED_CA_FILE: "/etc/devcluster/pki/ca.crt",
      ETCD_PEER_TRUSTED_CA_FILE: "/etc/devcluster/pki/ca.crt",
      ETCD_CERT_FILE: "/etc/devcluster/pki/node.crt",
      ETCD_KEY_FILE: "/etc/devcluster/pki/node.key",
    });
  });
});

describe("etcdEnv without TLS and the HTTP endpoints' address", () => {
  it("a plain member serves HTTP and gRPC on its client port", () => {
    const env = etcdEnv({
      name: "i-1",
      ip: "10.0.0.1",
      dataDir: "/var/lib/etcd",
      initialCluster: [{ name: "i-1", ip: "10.0.0.1" }],
      state: "new",
      token: "t",
    });
    expect(env.ETCD_LISTEN_CLIENT_URLS).toBe("http://10.0.0.1:2379");
    expect(env).not.toHaveProperty("ETCD_LISTEN_CLIENT_HTTP_URLS");
  });

  it("etcdHttpBase: a TLS member's HTTP listener, a plain member's client URL, any path dropped", () => {
    expect(etcdHttpBase("https://10.0.0.1:2379")).toBe("https://10.0.0.1:2382");
    expect(etcdHttpBase("https://i-0abc.dev.internal:2379/")).toBe("https://i-0abc.dev.internal:2382");
    expect(etcdHttpBase("http://10.0.0.1:2379/health")).toBe("http://10.0.0.1:2379");
    // Another port is somebody's own listener: left as it is.
    expect(etcdHttpBase("https://10.0.0.1:12379")).toBe("https://10.0.0.1:12379");
  });
});
