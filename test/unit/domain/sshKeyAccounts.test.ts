// Which of the pool's users a signed key list carries, and the checks on what a request names.
import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { InvalidInputError } from "../../../functions/domain/errors.ts";
import {
  keyListFor,
  parseGroupChange,
  parseKeyId,
  type PoolUser,
} from "../../../functions/domain/sshKeyAccounts.ts";
import { signKeyList, verifyKeyList } from "../../../functions/domain/sshKeyList.ts";

const dir = mkdtempSync(join(tmpdir(), "sshkey-accounts-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const keygen = (name: string) => {
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", join(dir, name)]);
  return readFileSync(join(dir, `${name}.pub`), "utf8").trim();
};
const aliceKey = keygen("alice");
const bobKey = keygen("bob");

const users: PoolUser[] = [
  { name: "bob", enabled: true, groups: ["developers"] },
  { name: "alice", enabled: true, groups: ["developers", "admins", "developers"] },
  { name: "Zed.Upper", enabled: true, groups: ["developers"] },
  { name: "gone", enabled: false, groups: ["admins"] },
  { name: "eve", enabled: true, groups: ["has space", "developers"] },
];
const keys: Record<string, string[]> = {
  alice: [aliceKey, "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC short"],
  bob: [bobKey],
  gone: [bobKey],
  "Zed.Upper": [aliceKey],
  ghost: [aliceKey],
};
const keysOf = (u: string) => keys[u] ?? [];

describe("keyListFor", () => {
  it("lists every enabled pool user that can be a local account, sorted, with their groups and keys", () => {
    const l = keyListFor("*", users, keysOf, 1_000);
    expect(l).toEqual({
      subject: "*",
      issuedAt: 1_000,
      expiresAt: 1_300,
      accounts: [
        // A stored key that no longer passes the rules is left out, not the whole list.
        { user: "alice", groups: ["admins", "developers"], keys: [aliceKey] },
        { user: "bob", groups: ["developers"], keys: [bobKey] },
        // A group a host could not name is left out.
        { user: "eve", groups: ["developers"], keys: [] },
      ],
    });
    // What it gives signs and verifies as a host checks it.
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const text = signKeyList(l, privateKey.export({ type: "pkcs8", format: "pem" }).toString());
    expect(verifyKeyList(text, publicKey, "*", 1_001).accounts).toEqual(l.accounts);
  });

  it("one user's list holds that user only; a disabled, unknown or non-local user gets an empty one", () => {
    expect(keyListFor("bob", users, keysOf, 5).accounts).toEqual([
      { user: "bob", groups: ["developers"], keys: [bobKey] },
    ]);
    for (const u of ["gone", "ghost"]) expect(keyListFor(u, users, keysOf, 5).accounts).toEqual([]);
    expect(() => keyListFor("Zed.Upper", users, keysOf, 5)).toThrow(InvalidInputError);
    expect(() => keyListFor("../etc", users, keysOf, 5)).toThrow(/not a local user name/);
  });
});

describe("request checks", () => {
  it("a key id is a positive integer", () => {
    expect(parseKeyId("42")).toBe("42");
    for (const bad of ["0", "-1", "1.5", "1 OR 1=1", "", "01", "1".repeat(19)])
      expect(() => parseKeyId(bad), bad).toThrow(InvalidInputError);
  });
  it("a group change names a user, a group and add or remove", () => {
    expect(parseGroupChange({ user: "bob", group: "admins", action: "add" })).toEqual({
      user: "bob",
      group: "admins",
      action: "add",
    });
    expect(() => parseGroupChange({ user: "", group: "a b", action: "promote" })).toThrow(
      "not a group change: user: required; group: a group name; action: add or remove",
    );
    expect(() => parseGroupChange(null)).toThrow(InvalidInputError);
  });
});
