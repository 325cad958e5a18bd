// The client services a database service (Postgres, MariaDB) serves (pure): their names as the
// server knows them, where each one's password lives in SSM, and what a stored password may hold.
import { ConfigError } from "../../functions/domain/errors.ts";

export interface Client {
  /** The client's service name, as in the catalog (`build-bot`). */
  service: string;
  /** Its database and its user or role: the same identifier (`build_bot`). */
  name: string;
}

const SERVICE = /^[a-z][a-z0-9-]{0,61}[a-z0-9]$|^[a-z]$/;
/** What a stored password may hold: it is written between quotes into SQL, so no quote or backslash. */
const PASSWORD = /^[A-Za-z0-9_\-+/=.~]{24,256}$/;

/**
 * `CLIENTS=wiki,build-bot`: each a catalog service name; a name the server reserves (`reserved`,
 * described by `reservedText` in the error) is refused.
 */
export function parseClientList(
  spec: string | undefined,
  reserved: (name: string) => boolean,
  reservedText: string,
): Client[] {
  const out: Client[] = [];
  const bad: string[] = [];
  for (const service of (spec ?? "").split(/[\s,]+/).filter(Boolean)) {
    const name = service.replaceAll("-", "_");
    if (!SERVICE.test(service) || reserved(name)) bad.push(service);
    else if (!out.some((c) => c.name === name)) out.push({ service, name });
  }
  if (bad.length)
    throw new ConfigError(
      `CLIENTS: not service names (lowercase letters, digits, '-'; not ${reservedText}): ${bad.join(", ")}`,
    );
  return out;
}

/** Where a client's password lives: a SecureString under the cluster's parameters. */
export const passwordParameter = (cluster: string, dbService: string, client: Client) =>
  `/devcluster/${cluster}/db/${dbService}/${client.service}/password`;

export function checkPassword(value: string, parameter: string): string {
  if (!PASSWORD.test(value))
    throw new Error(
      `${parameter} does not hold a usable password (24-256 of A-Z a-z 0-9 _ - + / = . ~); not applied`,
    );
  return value;
}
