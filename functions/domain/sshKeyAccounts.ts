// What the SSH-key service serves (pure): which of the pool's users a signed list carries, with
// which groups and keys, and the rules for a user's own keys (how many, which one a request names).
import { InvalidInputError } from "./errors.ts";
import { GROUP_NAME } from "./presence.ts";
import { KEY_LIST_TTL_S, LOCAL_USER_NAME, type KeyList } from "./sshKeyList.ts";
import { parseSshPublicKey } from "./sshKeys.ts";

/** Most keys one user may keep: enough for every laptop and token, small enough to read at a login. */
export const MAX_KEYS_PER_USER = 20;

/** A user of the pool as a list needs them. */
export interface PoolUser {
  name: string;
  enabled: boolean;
  groups: string[];
}

/**
 * The list for `subject` (one user, or `*` for every account): only users that exist in the pool,
 * are enabled and can be local accounts; only groups a host can name; only keys that still pass
 * the key rules (a stored key that no longer does is left out rather than voiding the whole list).
 */
export function keyListFor(
  subject: string,
  users: readonly PoolUser[],
  keysOf: (user: string) => readonly string[],
  nowS: number,
): KeyList {
  if (subject !== "*" && !LOCAL_USER_NAME.test(subject))
    throw new InvalidInputError(`'${subject.slice(0, 64)}' is not a local user name`);
  const accounts = users
    .filter((u) => u.enabled && LOCAL_USER_NAME.test(u.name) && (subject === "*" || u.name === subject))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((u) => ({
      user: u.name,
      groups: [...new Set(u.groups.filter((g) => GROUP_NAME.test(g)))].sort(),
      keys: keysOf(u.name).filter((k) => {
        try {
          parseSshPublicKey(k);
          return true;
        } catch {
          return false;
        }
      }),
    }));
  return { subject, issuedAt: nowS, expiresAt: nowS + KEY_LIST_TTL_S, accounts };
}

/** The id of a stored key as a request names it (a positive integer). */
export function parseKeyId(text: string): string {
  if (!/^[1-9][0-9]{0,17}$/.test(text)) throw new InvalidInputError(`'${text.slice(0, 32)}' is not a key id`);
  return text;
}

/** A group change an admin asks for, checked before anything is called. */
export interface GroupChange {
  user: string;
  group: string;
  action: "add" | "remove";
}

export function parseGroupChange(body: unknown): GroupChange {
  const b = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  const issues: string[] = [];
  if (typeof b.user !== "string" || !b.user) issues.push("user: required");
  if (typeof b.group !== "string" || !GROUP_NAME.test(b.group)) issues.push("group: a group name");
  if (b.action !== "add" && b.action !== "remove") issues.push("action: add or remove");
  if (issues.length) throw new InvalidInputError("not a group change", issues);
  return { user: b.user as string, group: b.group as string, action: b.action as "add" | "remove" };
}
