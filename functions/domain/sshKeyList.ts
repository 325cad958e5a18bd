// The signed key list (pure): the text document hosts fetch to learn users, groups and SSH keys,
// signed with the service's ed25519 key and valid for a short time, so hosts trust only what this
// service issued and refuse an old list replayed to them.
//
// It is line-based text rather than JSON so that the host side needs only bash and openssl:
//   devcluster-sshkeys-list 1
//   subject alice            (the user asked for, or * for every account)
//   issued 1764190000        (Unix seconds)
//   expires 1764190300
//   user alice developers admins
//   key alice ssh-ed25519 AAAA... comment
//   signature <base64 ed25519 signature of every byte above this line>
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from "node:crypto";
import { InvalidInputError, RefusedError } from "./errors.ts";
import { GROUP_NAME } from "./presence.ts";
import { parseSshPublicKey } from "./sshKeys.ts";

export const KEY_LIST_MAGIC = "devcluster-sshkeys-list 1";
/** How long a list is valid: hosts cache nothing, so this bounds only how long a replay works. */
export const KEY_LIST_TTL_S = 300;
/** Longest validity a host accepts, whatever a list says (a stolen signing key is bounded elsewhere). */
export const KEY_LIST_MAX_TTL_S = 3600;
/** Clock difference tolerated between the service and a host. */
export const KEY_LIST_SKEW_S = 60;

/** Local account names (useradd's default rule, lower case): lists carry only users that fit. */
export const LOCAL_USER_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;

export interface KeyListAccount {
  user: string;
  groups: string[];
  keys: string[];
}

export interface KeyList {
  /** One user's name, or `*` for the list of every account. */
  subject: string;
  issuedAt: number;
  expiresAt: number;
  accounts: KeyListAccount[];
}

/** The document's text before its signature line; every value is checked so no line can be forged. */
export function renderKeyList(list: KeyList): string {
  if (list.subject !== "*" && !LOCAL_USER_NAME.test(list.subject))
    throw new InvalidInputError(`'${list.subject}' is not a local user name`);
  const lines = [
    KEY_LIST_MAGIC,
    `subject ${list.subject}`,
    `issued ${list.issuedAt}`,
    `expires ${list.expiresAt}`,
  ];
  for (const a of list.accounts) {
    if (!LOCAL_USER_NAME.test(a.user)) throw new InvalidInputError(`'${a.user}' is not a local user name`);
    for (const g of a.groups)
      if (!GROUP_NAME.test(g)) throw new InvalidInputError(`'${g}' is not a group name`);
    lines.push(["user", a.user, ...a.groups].join(" "));
    for (const k of a.keys) lines.push(`key ${a.user} ${parseSshPublicKey(k).line}`);
  }
  return lines.join("\n") + "\n";
}

export function signKeyList(list: KeyList, privateKeyPem: string): string {
  const body = renderKeyList(list);
  const sig = sign(null, Buffer.from(body, "utf8"), createPrivateKey(privateKeyPem));
  return `${body}signature ${sig.toString("base64")}\n`;
}

/** A list's text checked as a host checks it: signature, subject, issue time and expiry. */
export function verifyKeyList(
  text: string,
  publicKeyPem: string | KeyObject,
  expectedSubject: string,
  nowS: number,
): KeyList {
  const m = /^([\s\S]*\n)signature ([A-Za-z0-9+/]+={0,2})\n$/.exec(text);
  if (!m) throw new RefusedError("key list refused: no signature line");
  const body = m[1]!;
  const key = typeof publicKeyPem === "string" ? createPublicKey(publicKeyPem) : publicKeyPem;
  if (!verify(null, Buffer.from(body, "utf8"), key, Buffer.from(m[2]!, "base64")))
    throw new RefusedError("key list refused: bad signature");
  const lines = body.slice(0, -1).split("\n");
  const field = (i: number, name: string) => {
    const [k, v, ...rest] = (lines[i] ?? "").split(" ");
    if (k !== name || v === undefined || rest.length)
      throw new RefusedError(`key list refused: line ${i + 1}`);
    return v;
  };
  if (lines[0] !== KEY_LIST_MAGIC) throw new RefusedError("key list refused: unknown format");
  const subject = field(1, "subject");
  const issuedAt = Number(field(2, "issued"));
  const expiresAt = Number(field(3, "expires"));
  if (subject !== expectedSubject)
    throw new RefusedError(`key list refused: issued for ${subject}, not ${expectedSubject}`);
  if (!(issuedAt <= nowS + KEY_LIST_SKEW_S)) throw new RefusedError("key list refused: issued in the future");
  if (!(nowS < expiresAt)) throw new RefusedError("key list refused: expired");
  if (!(expiresAt - issuedAt <= KEY_LIST_MAX_TTL_S))
    throw new RefusedError("key list refused: valid for too long");
  const accounts: KeyListAccount[] = [];
  for (const line of lines.slice(4)) {
    const [kind, user, ...rest] = line.split(" ");
    if (kind === "user" && user) accounts.push({ user, groups: rest, keys: [] });
    else if (kind === "key" && user && accounts.at(-1)?.user === user)
      accounts.at(-1)!.keys.push(rest.join(" "));
    else throw new RefusedError("key list refused: a malformed line");
  }
  return { subject, issuedAt, expiresAt, accounts };
}
