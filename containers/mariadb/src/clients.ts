// What the MariaDB building block makes for its client services (pure): the SQL that gives each one
// its database and user, and sets the administrator's password.
import { parseClientList, type Client } from "../../shared/dbClients.ts";

/** Names MariaDB keeps for itself (schemas and accounts), and the administrator's own parameter. */
const RESERVED = new Set(["root", "mysql", "mariadb_sys", "information_schema", "performance_schema", "sys"]);

/** `CLIENTS=phpapp,build-bot`: each a catalog service name; a name MariaDB reserves is refused. */
export const parseClients = (spec: string | undefined): Client[] =>
  parseClientList(spec, (name) => RESERVED.has(name), [...RESERVED].join(", "));

/** The administrator's parameter sits beside the clients' (`root` is never a client's name). */
export const ADMIN: Client = { service: "root", name: "root" };

/**
 * The SQL, run as root over the container's socket, that sets root's password (root logs in only on
 * the socket: as the container's root user, or with that password) and gives each client its user
 * (with its stored password, from any address: the server listens on the private network only) and
 * its own database. Idempotent: run at every start, it creates what is missing and sets each password
 * again (a password changed in SSM takes effect on the next start). It drops nothing: a client taken
 * out of CLIENTS keeps its database and user.
 */
export function clientsSql(admin: string, clients: { client: Client; password: string }[]): string {
  const lines = [
    `ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('${admin}');`,
    // No anonymous login, whatever an older initialisation made.
    "DROP USER IF EXISTS ''@'localhost';",
  ];
  for (const { client, password } of clients) {
    const user = `'${client.name}'@'%'`;
    lines.push(
      `CREATE DATABASE IF NOT EXISTS \`${client.name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;`,
      `CREATE USER IF NOT EXISTS ${user} IDENTIFIED BY '${password}';`,
      `ALTER USER ${user} IDENTIFIED BY '${password}';`,
      `GRANT ALL PRIVILEGES ON \`${client.name}\`.* TO ${user};`,
    );
  }
  return lines.join("\n") + "\n";
}
