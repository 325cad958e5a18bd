// Accounts (pure): the user pool's settings shared by the template and the local cluster, the names
// users and groups may have, and the parameter holding the front door's session key.
import { InvalidInputError } from "./errors.ts";
import { GROUP_NAME } from "./presence.ts";

/** Groups every cluster's pool has; members of `admins` must sign in with a second factor. */
export const POOL_GROUPS = [
  { name: "admins", description: "Administrators: every service; a second factor is required" },
  { name: "developers", description: "Developers: the team's services" },
] as const;

/** The pool's password policy (NIST 800-63B favours length over composition rules; Cognito wants some). */
export const PASSWORD_POLICY = {
  MinimumLength: 12,
  RequireLowercase: true,
  RequireUppercase: true,
  RequireNumbers: true,
  RequireSymbols: false,
  TemporaryPasswordValidityDays: 3,
} as const;

export const userPoolName = (cluster: string) => `devcluster-${cluster}-users`;
export const authClientName = (cluster: string) => `devcluster-${cluster}-auth`;
/** SecureString holding the session-signing key(s) of the auth service (docs/OPERATIONS.md: rotation). */
export const sessionKeyParameterName = (cluster: string) => `/devcluster/${cluster}/auth/session-key`;

/** Cognito's user name rule, narrowed to what reads well in a header (`X-Remote-User`) and a log. */
export const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}$/;

export function checkUserName(name: string): string {
  if (!USER_NAME.test(name))
    throw new InvalidInputError(
      `'${name}' is not a user name: 1-128 letters, digits and '_.@+-', starting with a letter or digit`,
    );
  return name;
}

export function checkGroupName(name: string): string {
  if (!GROUP_NAME.test(name))
    throw new InvalidInputError(`'${name}' is not a group name: 1-128 letters, digits and '_.-'`);
  return name;
}

/** What the pool enforces, checked before asking it (the pool says it again, less clearly). */
export function checkPassword(pw: string): string {
  const p = PASSWORD_POLICY;
  const missing: string[] = [];
  if (pw.length < p.MinimumLength) missing.push(`at least ${p.MinimumLength} characters`);
  if (p.RequireLowercase && !/[a-z]/.test(pw)) missing.push("a lower-case letter");
  if (p.RequireUppercase && !/[A-Z]/.test(pw)) missing.push("an upper-case letter");
  if (p.RequireNumbers && !/[0-9]/.test(pw)) missing.push("a digit");
  if (missing.length) throw new InvalidInputError("the password does not meet the pool's policy", missing);
  return pw;
}
