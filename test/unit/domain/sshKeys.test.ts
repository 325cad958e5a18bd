// SSH public keys users may register, checked against keys made by OpenSSH's own ssh-keygen.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { InvalidInputError } from "../../../functions/domain/errors.ts";
import { parseSshPublicKey } from "../../../functions/domain/sshKeys.ts";

const dir = mkdtempSync(join(tmpdir(), "sshkeys-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A fresh key from ssh-keygen: its .pub line and the fingerprint ssh-keygen prints for it. */
function keygen(type: string, bits?: number, comment = "alice@laptop") {
  const file = join(dir, `${type}-${bits ?? 0}-${Math.random().toString(36).slice(2)}`);
  execFileSync("ssh-keygen", [
    "-q",
    "-t",
    type,
    ...(bits ? ["-b", String(bits)] : []),
    "-N",
    "",
    "-C",
    comment,
    "-f",
    file,
  ]);
  const pub = readFileSync(`${file}.pub`, "utf8");
  const fp = execFileSync("ssh-keygen", ["-l", "-f", `${file}.pub`], { encoding: "utf8" }).split(" ")[1];
  return { pub, fp };
}

const refusal = (line: string) => {
  try {
    parseSshPublicKey(line);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidInputError);
    return (e as Error).message;
  }
  throw new Error("accepted");
};

describe("parseSshPublicKey", () => {
  it("when given an ed25519 .pub line, it accepts it with ssh-keygen's fingerprint", () => {
    const { pub, fp } = keygen("ed25519");
    const k = parseSshPublicKey(pub);
    expect(k).toMatchObject({ type: "ssh-ed25519", bits: 256, comment: "alice@laptop", fingerprint: fp });
    expect(k.line).toBe(pub.trim());
  });

  it("when given RSA keys of 3072 and 4096 bits, it accepts them with their size", () => {
    for (const bits of [3072, 4096]) {
      const { pub, fp } = keygen("rsa", bits);
      expect(parseSshPublicKey(pub)).toMatchObject({ type: "ssh-rsa", bits, fingerprint: fp });
    }
  });

  it("when the RSA key is 2048 bits, it refuses it as too weak", () => {
    expect(refusal(keygen("rsa", 2048).pub)).toMatch(/2048 bits is too weak: at least 3072/);
  });

  it("when the key is ECDSA, it refuses the type by name", () => {
    expect(refusal(keygen("ecdsa", 256).pub)).toMatch(/ecdsa-sha2-nistp256 keys are not accepted/);
  });

  it("when options precede the key, it refuses them", () => {
    const { pub } = keygen("ed25519");
    expect(refusal(`command="/bin/sh" ${pub}`)).toMatch(/options before the key/);
    expect(refusal(`no-pty,from="10.0.0.0/8" ${pub}`)).toMatch(/options before the key/);
  });

  it("when given two lines, it refuses them", () => {
    const a = keygen("ed25519").pub;
    const b = keygen("ed25519").pub;
    expect(refusal(a + b)).toMatch(/more than one line/);
  });

  it("when the key data is damaged, it says how", () => {
    const { pub } = keygen("ed25519");
    const [type, data] = pub.split(" ");
    expect(refusal(`${type} ${data!.slice(0, -8)}`)).toMatch(/not base64|ends/);
    expect(refusal(`${type} ${data!.slice(0, 40)}`)).toMatch(/not base64|ends/);
    expect(refusal(`${type} not*base64`)).toMatch(/not base64/);
    expect(refusal("ssh-ed25519")).toMatch(/key data after the type is missing/);
    expect(refusal("")).toMatch(/empty/);
    expect(refusal("hello world")).toMatch(/not an SSH key type/);
  });

  it("when the line's type disagrees with the key data, it refuses it", () => {
    const rsa = keygen("rsa", 3072).pub.split(" ")[1];
    expect(refusal(`ssh-ed25519 ${rsa}`)).toMatch(/is a ssh-rsa key, not ssh-ed25519/);
  });

  it("when the ed25519 key has extra bytes, it refuses it", () => {
    const blob = Buffer.from(keygen("ed25519").pub.split(" ")[1]!, "base64");
    const longer = Buffer.concat([blob, Buffer.from([0, 0, 0, 0])]).toString("base64");
    expect(refusal(`ssh-ed25519 ${longer}`)).toMatch(/bytes after the key/);
  });
});
