// SSH public keys (pure): which keys a user may register (ed25519, or RSA of 3072 bits or more, one
// line in OpenSSH's authorized_keys form without options), read from the key's own wire encoding.
import { createHash } from "node:crypto";
import { InvalidInputError } from "./errors.ts";

export const MIN_RSA_BITS = 3072;
/** OpenSSH refuses RSA moduli above 16384 bits; a larger one could only be meant to waste CPU. */
export const MAX_RSA_BITS = 16384;
const MAX_LINE = 16 * 1024;
const MAX_COMMENT = 256;

export type SshKeyType = "ssh-ed25519" | "ssh-rsa";

export interface SshPublicKey {
  type: SshKeyType;
  /** The key's wire encoding, base64 as written in authorized_keys. */
  base64: string;
  comment: string;
  bits: number;
  /** As `ssh-keygen -l` prints it: SHA256 of the wire encoding, unpadded base64. */
  fingerprint: string;
  /** The line as stored and served: type, key and comment separated by one space. */
  line: string;
}

/** Key types OpenSSH knows; a line starting with anything else is an option list or not a key. */
const KNOWN_TYPES =
  /^(ssh-ed25519|ssh-rsa|ssh-dss|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com|ssh-ed448|[a-z0-9-]+-cert-v01@openssh\.com)$/;

const refuse = (issue: string): never => {
  throw new InvalidInputError("not an accepted SSH public key", [issue]);
};

/** Reads the SSH wire format's length-prefixed strings (RFC 4251 section 5). */
class WireReader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}
  string(what: string): Buffer {
    if (this.at + 4 > this.buf.length) refuse(`the key data ends before its ${what}`);
    const len = this.buf.readUInt32BE(this.at);
    if (this.at + 4 + len > this.buf.length) refuse(`the key data ends inside its ${what}`);
    const out = this.buf.subarray(this.at + 4, this.at + 4 + len);
    this.at += 4 + len;
    return out;
  }
  end(): void {
    if (this.at !== this.buf.length) refuse("the key data has bytes after the key");
  }
}

/** Bit length of an mpint's magnitude (a leading zero byte only marks it positive). */
function mpintBits(b: Buffer): number {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  if (i === b.length) return 0;
  return (b.length - i - 1) * 8 + (32 - Math.clz32(b[i]!));
}

/** Parse and check one public key line; throws InvalidInputError saying what is wrong. */
export function parseSshPublicKey(input: string): SshPublicKey {
  if (input.length > MAX_LINE) refuse(`longer than ${MAX_LINE} characters`);
  const text = input.replace(/\r?\n$/, "").trim();
  if (!text) refuse("empty: paste the one line of your .pub file");
  if (/[\r\n]/.test(text)) refuse("more than one line: add one key at a time");
  if (/[^\x20-\x7e\t]/.test(text)) refuse("contains control or non-ASCII characters");
  const fields = text.split(/[ \t]+/);
  const type = fields[0]!;
  if (!KNOWN_TYPES.test(type)) {
    if (fields.slice(1).some((f) => KNOWN_TYPES.test(f)))
      refuse("options before the key (such as command= or from=) are not accepted: give only the key");
    refuse(`'${type.slice(0, 40)}' is not an SSH key type`);
  }
  if (type !== "ssh-ed25519" && type !== "ssh-rsa")
    return refuse(
      `${type} keys are not accepted: use ssh-ed25519, or ssh-rsa of at least ${MIN_RSA_BITS} bits`,
    );
  const base64 = fields[1] ?? refuse("the key data after the type is missing");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 !== 0) refuse("the key data is not base64");
  const blob = Buffer.from(base64, "base64");
  if (blob.toString("base64") !== base64) refuse("the key data is not base64");
  const comment = fields.slice(2).join(" ");
  if (comment.length > MAX_COMMENT) refuse(`the comment is longer than ${MAX_COMMENT} characters`);

  const r = new WireReader(blob);
  const inner = r.string("type").toString("latin1");
  if (inner !== type) refuse(`the key data is a ${inner.slice(0, 40)} key, not ${type}`);
  let bits: number;
  if (type === "ssh-ed25519") {
    if (r.string("public key").length !== 32) refuse("an ed25519 public key is 32 bytes");
    bits = 256;
  } else {
    const e = r.string("exponent");
    const n = r.string("modulus");
    if (mpintBits(e) < 2 || (e[e.length - 1]! & 1) === 0)
      refuse("the RSA exponent is not an odd number >= 3");
    bits = mpintBits(n);
    if (bits < MIN_RSA_BITS)
      refuse(`an RSA key of ${bits} bits is too weak: at least ${MIN_RSA_BITS} (or use ssh-ed25519)`);
    if (bits > MAX_RSA_BITS) refuse(`an RSA key of ${bits} bits is larger than ${MAX_RSA_BITS}`);
  }
  r.end();
  const fingerprint = "SHA256:" + createHash("sha256").update(blob).digest("base64").replace(/=+$/, "");
  const line = comment ? `${type} ${base64} ${comment}` : `${type} ${base64}`;
  return { type, base64, comment, bits, fingerprint, line };
}
