// The cluster's etcd PKI: its CA, the control plane's client certificate, and node certificates
// signed from a CSR made on the node (the node's private key never leaves it).
//
// `@peculiar/x509` over WebCrypto: a maintained, typed, pure-JS X.509 library with ECDSA (node-forge
// has no ECDSA certificates); no openssl binary is needed where the functions run.
// tsyringe (inside @peculiar/x509) needs the Reflect metadata API before the library loads.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { webcrypto } from "node:crypto";
import { InvalidInputError, InvariantError } from "./errors.ts";

const crypto = webcrypto;
x509.cryptoProvider.set(crypto);

const EC = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGN = { name: "ECDSA", hash: "SHA-256" } as const;
const DAY_MS = 86_400_000;

/** How long what we issue lives. Node certificates are renewed when a node launches again (docs/OPERATIONS.md). */
export const CA_VALIDITY_DAYS = 3650;
export const CERT_VALIDITY_DAYS = 365;
export { CONTROL_PLANE_USER } from "./etcdUser.ts";

/** A certificate and its private key, both PEM (the key PKCS#8). */
export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

/** A client's certificate and key with the CA it trusts: what a client needs to reach the members. */
export interface ClientTlsPem extends KeyPairPem {
  caPem: string;
}

/** What a node certificate may say: its CN (the instance id) and the addresses clients verify. */
export interface NodeIdentity {
  instanceId: string;
  /** The node's private address; for main nodes also 127.0.0.1 (a local gateway's clients dial it). */
  ips: string[];
  dnsNames: string[];
}

const serial = () => {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[0] = b[0]! & 0x7f; // a positive INTEGER
  return Buffer.from(b).toString("hex");
};

const pkcs8Pem = async (key: webcrypto.CryptoKey) =>
  x509.PemConverter.encode(await crypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");

const window = (now: Date, days: number) => ({
  // An hour back: a node whose clock is slightly behind must not see a certificate "not yet valid".
  notBefore: new Date(now.getTime() - 3_600_000),
  notAfter: new Date(now.getTime() + days * DAY_MS),
});

/** A new self-signed cluster CA (ECDSA P-256); `purpose` names what it certifies in its CN. */
export async function createClusterCa(clusterName: string, now: Date, purpose = "etcd"): Promise<KeyPairPem> {
  if (!/^[a-z0-9-]{1,40}$/.test(clusterName)) throw new InvariantError(`bad cluster name ${clusterName}`);
  if (!/^[a-z][a-z -]{0,30}$/.test(purpose)) throw new InvariantError(`bad CA purpose ${purpose}`);
  const keys = (await crypto.subtle.generateKey(EC, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=devcluster ${clusterName} ${purpose} CA`,
    ...window(now, CA_VALIDITY_DAYS),
    signingAlgorithm: SIGN,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await pkcs8Pem(keys.privateKey) };
}

/** Each CA as the signing needs it, read once per CA object (the PKI port keeps one per warm container). */
const imported = new WeakMap<
  KeyPairPem,
  Promise<{ cert: x509.X509Certificate; key: webcrypto.CryptoKey; aki: x509.Extension }>
>();
function importCa(ca: KeyPairPem) {
  let got = imported.get(ca);
  if (!got) {
    got = (async () => {
      const cert = new x509.X509Certificate(ca.certPem);
      const key = await crypto.subtle.importKey(
        "pkcs8",
        x509.PemConverter.decodeFirst(ca.keyPem),
        EC,
        false,
        ["sign"],
      );
      return { cert, key, aki: await x509.AuthorityKeyIdentifierExtension.create(cert, false) };
    })();
    // A CA that does not import is not kept: the next call reads it again and fails the same way.
    got.catch(() => imported.delete(ca));
    imported.set(ca, got);
  }
  return got;
}

async function issue(
  ca: KeyPairPem,
  publicKey: webcrypto.CryptoKey,
  cn: string,
  san: { ips: string[]; dnsNames: string[] },
  usages: x509.ExtendedKeyUsage[],
  now: Date,
): Promise<string> {
  const { cert: caCert, key: caKey, aki } = await importCa(ca);
  const names: x509.JsonGeneralName[] = [
    ...san.dnsNames.map((value) => ({ type: "dns" as const, value })),
    ...san.ips.map((value) => ({ type: "ip" as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${cn}`,
    issuer: caCert.subject,
    ...window(now, CERT_VALIDITY_DAYS),
    signingAlgorithm: SIGN,
    publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension(usages),
      ...(names.length ? [new x509.SubjectAlternativeNameExtension(names)] : []),
      aki,
    ],
  });
  return cert.toString("pem");
}

/** A client certificate and key made here (the control plane's own: it lives in SSM beside the CA). */
export async function createClientCertificate(ca: KeyPairPem, user: string, now: Date): Promise<KeyPairPem> {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(user)) throw new InvariantError(`bad etcd user ${user}`);
  const keys = (await crypto.subtle.generateKey(EC, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const certPem = await issue(
    ca,
    keys.publicKey,
    user,
    { ips: [], dnsNames: [] },
    [x509.ExtendedKeyUsage.clientAuth],
    now,
  );
  return { certPem, keyPem: await pkcs8Pem(keys.privateKey) };
}

/**
 * A TLS server certificate and key for `dnsNames` (e.g. `*.<domain>`), made here: what a local
 * cluster's front door serves in place of a certificate an operator bought.
 */
export async function createServerCertificate(
  ca: KeyPairPem,
  dnsNames: string[],
  now: Date,
): Promise<KeyPairPem> {
  if (!dnsNames.length || dnsNames.some((n) => !/^(\*\.)?[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/.test(n)))
    throw new InvariantError(`bad server names ${dnsNames.join(", ")}`);
  const keys = (await crypto.subtle.generateKey(EC, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const certPem = await issue(
    ca,
    keys.publicKey,
    dnsNames[0]!,
    { ips: [], dnsNames },
    [x509.ExtendedKeyUsage.serverAuth],
    now,
  );
  return { certPem, keyPem: await pkcs8Pem(keys.privateKey) };
}

const CSR_PEM = /-----BEGIN CERTIFICATE REQUEST-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE REQUEST-----/;

/** The CSR a node printed, from its command output (anything around it is ignored). */
export function csrFromOutput(stdout: string): string | undefined {
  return CSR_PEM.exec(stdout)?.[0];
}

/**
 * Signs a node's CSR. The CSR contributes only its public key, after proving it holds the private
 * key (its signature) and asking for no other identity than the node's: its CN must be the instance
 * id and every address it names one the node owns. What the certificate says (CN, SANs, usages:
 * server and client, for etcd's client and peer traffic) comes from what the control plane knows.
 */
export async function signNodeCsr(
  ca: KeyPairPem,
  csrPem: string,
  node: NodeIdentity,
  now: Date,
): Promise<string> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (e) {
    throw new InvalidInputError(`CSR from ${node.instanceId} is not a PKCS#10 request`, [], { cause: e });
  }
  const issues: string[] = [];
  // A malformed signature makes the library throw rather than answer false: refused the same way.
  if (!(await csr.verify().catch(() => false))) issues.push("its signature does not verify");
  const alg = csr.publicKey.algorithm as { name: string; namedCurve?: string };
  if (alg.name !== "ECDSA" || alg.namedCurve !== "P-256")
    issues.push(`key is ${alg.name} ${alg.namedCurve ?? ""}, not ECDSA P-256`);
  const cn = csr.subjectName.getField("CN");
  if (cn.length !== 1 || cn[0] !== node.instanceId)
    issues.push(`CN is ${JSON.stringify(cn)}, not ${node.instanceId}`);
  for (const n of sanNames(csr)) {
    const ok =
      (n.type === "ip" && node.ips.includes(n.value)) ||
      (n.type === "dns" && node.dnsNames.includes(n.value));
    if (!ok) issues.push(`asks for ${n.type}:${n.value}, which is not the node's`);
  }
  if (issues.length) throw new InvalidInputError(`CSR from ${node.instanceId} refused`, issues);
  const publicKey = await csr.publicKey.export(EC, ["verify"], crypto);
  return issue(
    ca,
    publicKey,
    node.instanceId,
    node,
    [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
    now,
  );
}

/**
 * The subject alternative names, read by OID: a lookup by class misses when the library is loaded
 * twice (its ESM and CJS builds each register their own extension classes).
 */
function sanNames(c: { getExtensions(type: string): x509.Extension[] }): x509.JsonGeneralName[] {
  return c
    .getExtensions("2.5.29.17")
    .flatMap((e) => new x509.SubjectAlternativeNameExtension(e.rawData).names.toJSON());
}

/** What a certificate says, for checks and reports. */
export function describeCertificate(pem: string) {
  const c = new x509.X509Certificate(pem);
  return {
    subject: c.subject,
    issuer: c.issuer,
    cn: c.subjectName.getField("CN")[0],
    notBefore: c.notBefore,
    notAfter: c.notAfter,
    sans: sanNames(c).map((n) => `${n.type}:${n.value}`),
  };
}

/** The public key a certificate is for: its SubjectPublicKeyInfo, DER in base64 (one line). */
export function certificatePublicKey(certPem: string): string {
  return Buffer.from(new x509.X509Certificate(certPem).publicKey.rawData).toString("base64");
}

/** Whether `certPem` was signed by `caPem`'s key (e.g. after a CA rotation, an old node certificate is not). */
export async function issuedBy(certPem: string, caPem: string): Promise<boolean> {
  const ca = new x509.X509Certificate(caPem);
  return new x509.X509Certificate(certPem).verify({ publicKey: ca.publicKey, signatureOnly: true });
}

/** A PEM safe to embed in a node script's quoted here-document (base64, headers, newlines only). */
export function assertPlainPem(pem: string, label: string): string {
  if (!/^-----BEGIN [A-Z ]+-----\n[A-Za-z0-9+/=\n]+-----END [A-Z ]+-----\n?$/.test(pem))
    throw new InvariantError(`${label} is not a plain PEM block`);
  return pem.endsWith("\n") ? pem : pem + "\n";
}
