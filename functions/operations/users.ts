// Managing accounts (`devcluster users ...`): each change checked first and safe to repeat; a
// repeated add or remove reports that nothing changed.
import { InvalidInputError, NotFoundError } from "../domain/errors.ts";
import { checkGroupName, checkPassword, checkUserName } from "../domain/users.ts";
import type { UserDirectory, UserRecord } from "../ports/users.ts";

export type Change = { changed: boolean; message: string };

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

async function knownGroups(dir: UserDirectory, groups: string[]) {
  for (const g of groups) checkGroupName(g);
  const known = await dir.listGroups();
  const unknown = groups.filter((g) => !known.includes(g));
  if (unknown.length)
    throw new InvalidInputError(
      `no such group: ${unknown.join(", ")} (groups: ${known.join(", ") || "none"})`,
    );
}

export async function addUser(
  dir: UserDirectory,
  name: string,
  opts: { email?: string; password?: string; groups?: string[] } = {},
): Promise<Change> {
  checkUserName(name);
  if (opts.email !== undefined && !EMAIL.test(opts.email))
    throw new InvalidInputError(`'${opts.email}' is not an email address`);
  if (opts.password !== undefined) checkPassword(opts.password);
  if (opts.password === undefined && opts.email === undefined)
    throw new InvalidInputError("give --email (the pool mails a temporary password) or --password");
  const groups = opts.groups ?? [];
  await knownGroups(dir, groups);
  const existing = await dir.getUser(name);
  let changed = false;
  if (!existing) {
    await dir.createUser(name, {
      ...(opts.email !== undefined ? { email: opts.email } : {}),
      ...(opts.password !== undefined ? { password: opts.password } : {}),
    });
    changed = true;
  }
  for (const g of groups) {
    if (existing?.groups.includes(g)) continue;
    await dir.addToGroup(name, g);
    changed = true;
  }
  return {
    changed,
    message: existing
      ? `${name} already exists${changed ? `; added to ${groups.filter((g) => !existing.groups.includes(g)).join(", ")}` : ""}`
      : `added ${name}${groups.length ? ` to ${groups.join(", ")}` : ""}`,
  };
}

export async function removeUser(dir: UserDirectory, name: string): Promise<Change> {
  checkUserName(name);
  if (!(await dir.getUser(name)))
    return { changed: false, message: `${name} does not exist (nothing to remove)` };
  await dir.deleteUser(name);
  return { changed: true, message: `removed ${name}` };
}

export async function listUsers(dir: UserDirectory): Promise<UserRecord[]> {
  return dir.listUsers();
}

export async function setGroup(
  dir: UserDirectory,
  action: "add" | "remove",
  name: string,
  group: string,
): Promise<Change> {
  checkUserName(name);
  await knownGroups(dir, [group]);
  const u = await dir.getUser(name);
  if (!u) throw new NotFoundError(`no user named ${name}`);
  const member = u.groups.includes(group);
  if (action === "add") {
    if (member) return { changed: false, message: `${name} is already in ${group}` };
    await dir.addToGroup(name, group);
    return { changed: true, message: `added ${name} to ${group}` };
  }
  if (!member) return { changed: false, message: `${name} is not in ${group} (nothing to remove)` };
  await dir.removeFromGroup(name, group);
  return { changed: true, message: `removed ${name} from ${group}` };
}
