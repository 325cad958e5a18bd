// The node certificate scripts run by bash with the real openssl on a node directory: the CSR step
// keeps the key's public half beside it, the install checks a certificate against it with the
// shell's builtins alone (no openssl on its PATH), refuses a certificate for another key and
// changes nothing then, and still checks a key made before the public half was kept (by openssl).
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  BOOT_KEY_SCRIPT,
  NODE_PKI_DIR,
  renderCsrScript,
  renderInstallCertScript,
} from "../../../functions/domain/nodeTls.ts";
import {
  createClusterCa,
  csrFromOutput,
  signNodeCsr,
  type NodeIdentity,
} from "../../../functions/domain/pki.ts";

const dir = mkdtempSync(join(tmpdir(), "devcluster-node-tls-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ca = await createClusterCa("dev", new Date());
const id: NodeIdentity = { instanceId: "i-0123456789abcdef0", ips: ["10.0.1.5", "127.0.0.1"], dnsNames: [] };

// A PATH with what the install needs besides bash's builtins (mv, rm) and no openssl.
const noOpenssl = join(dir, "bin-no-openssl");
mkdirSync(noOpenssl);
for (const tool of ["mv", "rm"]) symlinkSync(`/usr/bin/${tool}`, join(noOpenssl, tool));

function bash(root: string, script: string, path = process.env.PATH!, env: Record<string, string> = {}) {
  const r = spawnSync("/bin/bash", ["-euo", "pipefail", "-c", script], {
    env: { ROOT: root, PATH: path, ...env },
    encoding: "utf8",
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
let n = 0;
function node() {
  const root = join(dir, `node-${++n}`);
  mkdirSync(root);
  return { root, pki: join(root, NODE_PKI_DIR.slice(1)) };
}
const read = (f: string) => readFileSync(f, "utf8");
/** A PEM as the install writes it: ending in one newline. */
const pem = (p: string) => (p.endsWith("\n") ? p : p + "\n");
const publicOf = (key: string) => {
  const r = spawnSync("openssl", ["pkey", "-in", key, "-pubout"], { encoding: "utf8" });
  expect(r.status).toBe(0);
  return r.stdout;
};
/** The CSR step on the node, then the control plane's signature of what it printed. */
async function csrAndSign(root: string, opts: { rotate?: boolean } = {}) {
  const r = bash(root, renderCsrScript(id, ca.certPem, opts));
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).not.toContain("PUBLIC KEY");
  return signNodeCsr(ca, csrFromOutput(r.stdout)!, id, new Date());
}

describe("the node certificate scripts", () => {
  it("keep the key's public half, and install a certificate for it without openssl", async () => {
    const { root, pki } = node();
    const cert = await csrAndSign(root);
    expect(read(join(pki, "node.pub"))).toBe(publicOf(join(pki, "node.key")));
    const r = bash(root, renderInstallCertScript(cert, ca.certPem), noOpenssl);
    expect(r, r.stderr).toMatchObject({ code: 0, stdout: "installed\n" });
    expect(read(join(pki, "node.crt"))).toBe(pem(cert));
    expect(read(join(pki, "ca.crt"))).toBe(pem(ca.certPem));
  });

  it("refuse a certificate for another key (a late retry's) and change nothing", async () => {
    const { root, pki } = node();
    const mine = await csrAndSign(root);
    expect(bash(root, renderInstallCertScript(mine, ca.certPem)).code).toBe(0);
    // A certificate signed for another node's key, as a retry that signed an older CSR would bring.
    const other = node();
    const foreign = await csrAndSign(other.root);
    for (const path of [noOpenssl, process.env.PATH!]) {
      const r = bash(root, renderInstallCertScript(foreign, ca.certPem), path);
      expect(r.code).toBe(31);
      expect(r.stderr).toContain("the certificate is not for this node's key");
      expect(read(join(pki, "node.crt"))).toBe(pem(mine));
      expect(existsSync(join(pki, "node.crt.tmp")) || existsSync(join(pki, "ca.crt.tmp"))).toBe(false);
    }
  });

  it("check a key made before its public half was kept with openssl, as before", async () => {
    const { root, pki } = node();
    const cert = await csrAndSign(root);
    unlinkSync(join(pki, "node.pub"));
    // Without openssl the key cannot be checked, so nothing is installed.
    expect(bash(root, renderInstallCertScript(cert, ca.certPem), noOpenssl).code).not.toBe(0);
    expect(existsSync(join(pki, "node.crt"))).toBe(false);
    expect(bash(root, renderInstallCertScript(cert, ca.certPem)).code).toBe(0);
    expect(read(join(pki, "node.crt"))).toBe(pem(cert));
    const foreign = await csrAndSign(node().root);
    expect(bash(root, renderInstallCertScript(foreign, ca.certPem)).code).toBe(31);
    // The next CSR step that makes a CSR (a renewal: here the certificate is gone) keeps it again.
    unlinkSync(join(pki, "node.crt"));
    await csrAndSign(root);
    expect(read(join(pki, "node.pub"))).toBe(publicOf(join(pki, "node.key")));
  });

  it("put a rotated key and its public half in place with its certificate", async () => {
    const { root, pki } = node();
    expect(bash(root, renderInstallCertScript(await csrAndSign(root), ca.certPem)).code).toBe(0);
    const oldKey = read(join(pki, "node.key"));
    const rotated = await csrAndSign(root, { rotate: true });
    expect(read(join(pki, "node.pub.next"))).toBe(publicOf(join(pki, "node.key.next")));
    // Until the install, the node keeps its pair.
    expect(read(join(pki, "node.key"))).toBe(oldKey);
    const r = bash(root, renderInstallCertScript(rotated, ca.certPem), noOpenssl);
    expect(r, r.stderr).toMatchObject({ code: 0 });
    expect(read(join(pki, "node.key"))).not.toBe(oldKey);
    expect(read(join(pki, "node.pub"))).toBe(publicOf(join(pki, "node.key")));
    expect(existsSync(join(pki, "node.key.next")) || existsSync(join(pki, "node.pub.next"))).toBe(false);
    expect(read(join(pki, "node.crt"))).toBe(pem(rotated));
  });

  it("first boot makes the key and its CSR; the launch's CSR step prints that CSR without openssl", async () => {
    const { root, pki } = node();
    const boot = bash(root, BOOT_KEY_SCRIPT, process.env.PATH!, { INSTANCE_ID: id.instanceId });
    expect(boot, boot.stderr).toMatchObject({ code: 0 });
    const key = read(join(pki, "node.key"));
    expect(statSync(join(pki, "node.key")).mode & 0o077).toBe(0);
    expect(read(join(pki, "node.pub"))).toBe(publicOf(join(pki, "node.key")));
    // A reboot keeps the key and its CSR.
    const csr = read(join(pki, "node.csr"));
    expect(bash(root, BOOT_KEY_SCRIPT, process.env.PATH!, { INSTANCE_ID: id.instanceId }).code).toBe(0);
    expect([read(join(pki, "node.key")), read(join(pki, "node.csr"))]).toEqual([key, csr]);
    // The launch: no openssl on the node's PATH, for the CSR step and the install alike.
    const r = bash(root, renderCsrScript(id, ca.certPem), noOpenssl);
    expect(r, r.stderr).toMatchObject({ code: 0 });
    expect(csrFromOutput(r.stdout)).toBe(csrFromOutput(csr));
    const cert = await signNodeCsr(ca, csrFromOutput(r.stdout)!, id, new Date());
    // The certificate names the node's addresses, which the boot's CSR did not ask for.
    const sans = spawnSync("openssl", ["x509", "-noout", "-ext", "subjectAltName"], {
      input: cert,
      encoding: "utf8",
    });
    expect(sans.stdout).toMatch(/IP Address:10\.0\.1\.5, IP Address:127\.0\.0\.1/);
    expect(bash(root, renderInstallCertScript(cert, ca.certPem), noOpenssl)).toMatchObject({ code: 0 });
    expect(read(join(pki, "node.key"))).toBe(key);
  });

  it("a boot CSR that is not for the key is refused at the install, then replaced from the key", async () => {
    const { root, pki } = node();
    expect(bash(root, BOOT_KEY_SCRIPT, process.env.PATH!, { INSTANCE_ID: id.instanceId }).code).toBe(0);
    const key = read(join(pki, "node.key"));
    // Another key's CSR where the boot left its own (a damaged file, a copied disk).
    const other = node();
    expect(bash(other.root, BOOT_KEY_SCRIPT, process.env.PATH!, { INSTANCE_ID: id.instanceId }).code).toBe(0);
    writeFileSync(join(pki, "node.csr"), read(join(other.pki, "node.csr")));
    const wrong = await csrAndSign(root);
    const refused = bash(root, renderInstallCertScript(wrong, ca.certPem), noOpenssl);
    expect(refused.code).toBe(31);
    expect(existsSync(join(pki, "node.crt")) || existsSync(join(pki, "node.csr"))).toBe(false);
    // The retry's CSR step makes the CSR from the key the node holds, and that one installs.
    const right = await csrAndSign(root);
    expect(bash(root, renderInstallCertScript(right, ca.certPem), noOpenssl)).toMatchObject({ code: 0 });
    expect(read(join(pki, "node.key"))).toBe(key);
  });

  it("first boot refuses an instance id that is not one, and writes nothing", () => {
    const { root, pki } = node();
    for (const bad of ["", "$(touch x)", "i-0123456789abcdef0/../x", "i-XYZ"]) {
      const r = bash(root, BOOT_KEY_SCRIPT, process.env.PATH!, { INSTANCE_ID: bad });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("INSTANCE_ID is not an instance id");
    }
    expect(existsSync(pki)).toBe(false);
  });

  it("the CA copy: written when there is none, kept when it is the same, replaced when another", async () => {
    const { root, pki } = node();
    const cert = await csrAndSign(root);
    expect(bash(root, renderInstallCertScript(cert, ca.certPem), noOpenssl).code).toBe(0);
    expect(read(join(pki, "ca.crt"))).toBe(pem(ca.certPem));
    const ino = statSync(join(pki, "ca.crt")).ino;
    expect(bash(root, renderInstallCertScript(cert, ca.certPem), noOpenssl).code).toBe(0);
    expect(statSync(join(pki, "ca.crt")).ino).toBe(ino);
    // Another CA (a restored cluster's): replaced by a rename, never left half written.
    const other = await createClusterCa("dev", new Date());
    expect(bash(root, renderInstallCertScript(cert, other.certPem), noOpenssl).code).toBe(0);
    expect(read(join(pki, "ca.crt"))).toBe(pem(other.certPem));
    expect(statSync(join(pki, "ca.crt")).ino).not.toBe(ino);
    expect(existsSync(join(pki, "ca.crt.tmp"))).toBe(false);
  });
});
