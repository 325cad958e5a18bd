// What the Postgres building block makes for its client services (pure): their databases and roles
// (the SQL that creates them) and the access rules.
import { parseClientList, type Client } from "../../shared/dbClients.ts";

export { checkPassword, passwordParameter, type Client } from "../../shared/dbClients.ts";

/** `CLIENTS=wiki,build-bot`: each a catalog service name; an identifier Postgres reserves is refused. */
export const parseClients = (spec: string | undefined): Client[] =>
  parseClientList(spec, (name) => name === "postgres" || name.startsWith("pg_"), "postgres or pg_*");

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
