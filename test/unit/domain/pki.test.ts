// The etcd PKI: the CA, node certificates from CSRs (what is refused), the control plane's client certificate.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { webcrypto } from "node:crypto";
import { connect, createServer as createTlsServer } from "node:tls";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import {
  assertPlainPem,
  createClientCertificate,
  createClusterCa,
  createServerCertificate,
  csrFromOutput,
  describeCertificate,
  issuedBy,
  signNodeCsr,
} from "../../../functions/domain/pki.ts";
import { InvalidInputError, InvariantError } from "../../../functions/domain/errors.ts";

const crypto = webcrypto;
const now = new Date("2026-11-26T12:00:00Z");
const node = { instanceId: "i-0123456789abcdef0", ips: ["10.0.1.5", "127.0.0.1"], dnsNames: [] };

async function csr(
  cn: string,
  sans: x509.JsonGeneralName[] = [],
  alg: webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams = { name: "ECDSA", namedCurve: "P-256" },
) {
  const keys = (await crypto.subtle.generateKey(alg, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const req = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${cn}`,
    keys,
    signingAlgorithm: alg.name === "ECDSA" ? { name: "ECDSA", hash: "SHA-256" } : alg,
    extensions: sans.length ? [new x509.SubjectAlternativeNameExtension(sans)] : [],
  });
  return { pem: req.toString("pem"), keys };
}

describe("the cluster CA", () => {
  it("is a self-signed CA that can sign certificates only", async () => {
    const ca = await createClusterCa("dev", now);
    const cert = new x509.X509Certificate(ca.certPem);
    expect(cert.subject).toBe("CN=devcluster dev etcd CA");
    expect(await cert.isSelfSigned()).toBe(true);
    expect(cert.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(true);
    expect(cert.getExtension(x509.KeyUsagesExtension)?.usages).toBe(
      x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
    );
    expect(ca.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
  });

  it("refuses a cluster name that would not be a plain subject", async () => {
    await expect(createClusterCa("dev,O=evil", now)).rejects.toBeInstanceOf(InvariantError);
  });
});

describe("a server certificate (the local front door's)", () => {
  it("is trusted for the names it was made for, against its CA only, and for nothing else", async () => {
    const ca = await createClusterCa("dev", new Date(), "front door");
    expect(new x509.X509Certificate(ca.certPem).subject).toBe("CN=devcluster dev front door CA");
    const server = await createServerCertificate(ca, ["*.dev.test", "dev.test"], new Date());
    const tls = createTlsServer({ cert: server.certPem, key: server.keyPem }, (s) => s.end("ok"));
    await new Promise<void>((r) => tls.listen(0, "127.0.0.1", r));
    const port = (tls.address() as AddressInfo).port;
    const handshake = (servername: string, trusted = ca.certPem) =>
      new Promise<string>((resolve) => {
        const c = connect({ host: "127.0.0.1", port, servername, ca: trusted }, () => {
          c.end();
          resolve("trusted");
        });
        c.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      });
    try {
      expect(await handshake("filedrop.dev.test")).toBe("trusted");
      expect(await handshake("dev.test")).toBe("trusted");
      expect(await handshake("a.b.dev.test")).toBe("ERR_TLS_CERT_ALTNAME_INVALID");
      expect(await handshake("filedrop.other.test")).toBe("ERR_TLS_CERT_ALTNAME_INVALID");
      const stranger = await createClusterCa("dev", new Date(), "front door");
      expect(await handshake("filedrop.dev.test", stranger.certPem)).not.toBe("trusted");
    } finally {
      tls.close();
    }
    await expect(createServerCertificate(ca, ["bad name"], new Date())).rejects.toBeInstanceOf(
      InvariantError,
    );
  });
});

describe("signNodeCsr", () => {
  it("when the CSR is the node's, it issues a server+client certificate naming only what the control plane knows", async () => {
    const ca = await createClusterCa("dev", now);
    const { pem, keys } = await csr(node.instanceId, [{ type: "ip", value: "10.0.1.5" }]);
    const certPem = await signNodeCsr(ca, pem, node, now);
    const d = describeCertificate(certPem);
    expect(d.cn).toBe(node.instanceId);
    expect(d.issuer).toBe("CN=devcluster dev etcd CA");
    expect(d.sans).toEqual(["ip:10.0.1.5", "ip:127.0.0.1"]);
    expect(d.notBefore.getTime()).toBeLessThan(now.getTime());
    expect(d.notAfter.getTime()).toBeGreaterThan(now.getTime() + 300 * 86_400_000);
    const cert = new x509.X509Certificate(certPem);
    expect(cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages).toEqual([
      x509.ExtendedKeyUsage.serverAuth,
      x509.ExtendedKeyUsage.clientAuth,
    ]);
    expect(cert.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(false);
    // The certificate carries the CSR's key, not one made here.
    const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
    expect(new Uint8Array(cert.publicKey.rawData)).toEqual(spki);
    expect(await issuedBy(certPem, ca.certPem)).toBe(true);
  });

  it.each([
    ["another instance's CN", "i-0fffffffffffffff0", [], /CN is \["i-0fffffffffffffff0"\]/],
    ["an address the node does not own", node.instanceId, [{ type: "ip", value: "10.0.1.6" }], /ip:10.0.1.6/],
    ["a DNS name", node.instanceId, [{ type: "dns", value: "etcd.example.com" }], /dns:etcd.example.com/],
  ] as const)("when the CSR asks for %s, it refuses", async (_what, cn, sans, why) => {
    const ca = await createClusterCa("dev", now);
    const { pem } = await csr(cn, [...sans]);
    const err = await signNodeCsr(ca, pem, node, now).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect(String((err as Error).message)).toMatch(why);
  });

  it("when the key is not ECDSA P-256, it refuses", async () => {
    const ca = await createClusterCa("dev", now);
    const { pem } = await csr(node.instanceId, [], {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    });
    await expect(signNodeCsr(ca, pem, node, now)).rejects.toThrow(/not ECDSA P-256/);
  });

  it("when the CSR's signature does not match its key, it refuses", async () => {
    const ca = await createClusterCa("dev", now);
    const a = await csr(node.instanceId);
    const ra = new x509.Pkcs10CertificateRequest(a.pem);
    // b's request body signed by a's key: swap the signatures. A DER ECDSA signature is 70 to 72
    // bytes, so draw b until its signature is as long as a's and the splice keeps the structure.
    let rb = new x509.Pkcs10CertificateRequest((await csr(node.instanceId)).pem);
    for (let i = 0; i < 50 && rb.signature.byteLength !== ra.signature.byteLength; i++)
      rb = new x509.Pkcs10CertificateRequest((await csr(node.instanceId)).pem);
    expect(rb.signature.byteLength).toBe(ra.signature.byteLength);
    const forged = Buffer.concat([
      Buffer.from(rb.rawData).subarray(0, rb.rawData.byteLength - ra.signature.byteLength),
      Buffer.from(ra.signature),
    ]);
    const pem = x509.PemConverter.encode(forged, "CERTIFICATE REQUEST");
    await expect(signNodeCsr(ca, pem, node, now)).rejects.toBeInstanceOf(InvalidInputError);
  });

  it("when the CSR's signature is not a well-formed ECDSA signature, it refuses as invalid input", async () => {
    const ca = await createClusterCa("dev", now);
    const r = new x509.Pkcs10CertificateRequest((await csr(node.instanceId)).pem);
    const raw = Buffer.from(r.rawData);
    // Same length, but an INTEGER that claims more bytes than the signature holds.
    raw.fill(0x7f, raw.byteLength - r.signature.byteLength + 3);
    const pem = x509.PemConverter.encode(raw, "CERTIFICATE REQUEST");
    await expect(signNodeCsr(ca, pem, node, now)).rejects.toBeInstanceOf(InvalidInputError);
  });

  it("when the text is not a CSR, it refuses with a clear error", async () => {
    const ca = await createClusterCa("dev", now);
    await expect(
      signNodeCsr(
        ca,
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        node,
        now,
      ),
    ).rejects.toThrow(/not a PKCS#10 request/);
  });
});

describe("the control plane's client certificate", () => {
  it("is for client authentication only, named for its etcd user", async () => {
    const ca = await createClusterCa("dev", now);
    const c = await createClientCertificate(ca, "root", now);
    const cert = new x509.X509Certificate(c.certPem);
    expect(describeCertificate(c.certPem).cn).toBe("root");
    expect(cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages).toEqual([
      x509.ExtendedKeyUsage.clientAuth,
    ]);
    expect(await issuedBy(c.certPem, ca.certPem)).toBe(true);
    expect(await issuedBy(c.certPem, (await createClusterCa("dev", now)).certPem)).toBe(false);
  });
});

describe("node output and script safety", () => {
  it("finds the CSR in a command's output", () => {
    const pem = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----";
    expect(csrFromOutput(`key kept\n${pem}\ndone\n`)).toBe(pem);
    expect(csrFromOutput("CERT_CURRENT\n")).toBeUndefined();
  });

  it("lets only plain PEM into a here-document", async () => {
    const ca = await createClusterCa("dev", now);
    expect(assertPlainPem(ca.certPem, "CA")).toBe(ca.certPem.endsWith("\n") ? ca.certPem : ca.certPem + "\n");
    expect(() => assertPlainPem(ca.certPem + "PEM\n$(reboot)\n", "CA")).toThrow(InvariantError);
    expect(() => assertPlainPem("-----BEGIN X-----\nPEM\n-----END X-----\n'\n", "CA")).toThrow(
      InvariantError,
    );
  });
});
