// What the Postgres building block makes for its client services (pure): their database and role
// names, the SSM parameter of each password, the SQL that creates them, and the access rules.
import { ConfigError } from "../../../functions/domain/errors.ts";

export interface Client {
  /** The client's service name, as in the catalog (`build-bot`). */
  service: string;
  /** Its database and its role: the same identifier (`build_bot`), so `sameuser` admits it to its own only. */
  name: string;
}

const SERVICE = /^[a-z][a-z0-9-]{0,61}[a-z0-9]$|^[a-z]$/;
/** What a stored password may hold: it is written between quotes into SQL, so no quote or backslash. */
const PASSWORD = /^[A-Za-z0-9_\-+/=.~]{24,256}$/;

/** `CLIENTS=wiki,build-bot`: each a catalog service name; an identifier Postgres reserves is refused. */
export function parseClients(spec: string | undefined): Client[] {
  const out: Client[] = [];
  const bad: string[] = [];
  for (const service of (spec ?? "").split(/[\s,]+/).filter(Boolean)) {
    const name = service.replaceAll("-", "_");
    if (!SERVICE.test(service) || name === "postgres" || name.startsWith("pg_")) bad.push(service);
    else if (!out.some((c) => c.name === name)) out.push({ service, name });
  }
  if (bad.length)
    throw new ConfigError(
      `CLIENTS: not service names (lowercase letters, digits, '-'; not postgres or pg_*): ${bad.join(", ")}`,
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

/**
 * The SQL, run as the superuser, that gives each client its role (with the stored password) and its
 * own database. Idempotent: run at every start, it creates what is missing and sets each password
 * again (a password changed in SSM takes effect on the next start). It drops nothing: a client taken
 * out of CLIENTS keeps its database and role.
 */
export function clientsSql(clients: { client: Client; password: string }[]): string {
  const lines = ["\\set ON_ERROR_STOP on"];
  for (const { client, password } of clients) {
    const id = `"${client.name}"`;
    const lit = `'${client.name}'`;
    lines.push(
      `SELECT 'CREATE ROLE ${id} LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = ${lit})\\gexec`,
      `ALTER ROLE ${id} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '${password}';`,
      `SELECT 'CREATE DATABASE ${id} OWNER ${id}' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = ${lit})\\gexec`,
      `REVOKE ALL ON DATABASE ${id} FROM PUBLIC;`,
    );
  }
  return lines.join("\n") + "\n";
}

/**
 * pg_hba.conf, written at every start: the superuser only over the container's own socket (peer),
 * never over TCP; every client only to the database of its own name, with its password (SCRAM).
 */
export const HBA = [
  "# Written by the devcluster postgres program at every start; edits are replaced.",
  "local all postgres peer",
  "host all postgres 0.0.0.0/0 reject",
  "host sameuser all 0.0.0.0/0 scram-sha-256",
  "",
].join("\n");
