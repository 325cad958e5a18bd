// The PHP application's server settings (pure): nginx's configuration (HTTP on the node's private
// address, PHP through php-fpm's socket, only the announced front doors let in) and php-fpm's pool
// (the database's settings in its environment, the password as a file only the pool's user reads).
import { fpmPoolHead } from "../../shared/phpConf.ts";

export interface Paths {
  /** Where the program writes what it renders, and the sockets and pid files. */
  run: string;
  /** The application's files: `public/index.php` answers every request, `public/health.php` /healthz. */
  app: string;
}

/** An nginx address: only IPv4 dotted quads reach the configuration (they come from etcd). */
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

export const fpmSocket = (p: Paths) => `${p.run}/php-fpm.sock`;
export const passwordFile = (p: Paths) => `${p.run}/secrets/db-password`;

/**
 * nginx.conf: `doors` are the front doors' private addresses, the only callers of the application
 * (they strip X-Remote-User from outside and set it); /healthz answers anyone (presence, on the node).
 */
export function nginxConf(o: {
  listen: string;
  port: number;
  doors: string[];
  paths: Paths;
  maxBodyKb: number;
}): string {
  const bad = [o.listen, ...o.doors].filter((a) => !IPV4.test(a));
  if (bad.length) throw new Error(`not IPv4 addresses: ${bad.join(", ")}`);
  const fastcgi = (script: string) => [
    "      include /etc/nginx/fastcgi_params;",
    `      fastcgi_param SCRIPT_FILENAME ${o.paths.app}/public/${script};`,
    `      fastcgi_pass unix:${fpmSocket(o.paths)};`,
  ];
  return [
    "# Written by the phpapp program at start and whenever the front doors change; edits are replaced.",
    "worker_processes 1;",
    "daemon off;",
    "user www-data;",
    `pid ${o.paths.run}/nginx.pid;`,
    "error_log stderr warn;",
    "events { worker_connections 256; }",
    "http {",
    "  access_log off;",
    "  server_tokens off;",
    `  client_max_body_size ${o.maxBodyKb}k;`,
    `  client_body_temp_path ${o.paths.run}/nginx-body;`,
    `  fastcgi_temp_path ${o.paths.run}/nginx-fastcgi;`,
    `  proxy_temp_path ${o.paths.run}/nginx-proxy;`,
    `  uwsgi_temp_path ${o.paths.run}/nginx-uwsgi;`,
    `  scgi_temp_path ${o.paths.run}/nginx-scgi;`,
    "  server {",
    `    listen ${o.listen}:${o.port};`,
    "    location = /healthz {",
    ...fastcgi("health.php"),
    "    }",
    "    location / {",
    ...o.doors.map((d) => `      allow ${d};`),
    "      deny all;",
    ...fastcgi("index.php"),
    "    }",
    "  }",
    "}",
    "",
  ].join("\n");
}

export interface Db {
  host: string;
  port: number;
  name: string;
  user: string;
}

/** php-fpm's configuration: one pool, its user `poolUser`, the database's settings in its environment. */
export function fpmConf(o: { db: Db; paths: Paths; poolUser: string; maxChildren: number }): string {
  const env = { DB_HOST: o.db.host, DB_PORT: String(o.db.port), DB_NAME: o.db.name, DB_USER: o.db.user };
  for (const [k, v] of Object.entries(env))
    if (!/^[A-Za-z0-9_.-]+$/.test(v)) throw new Error(`${k}: not a host, port or name: ${JSON.stringify(v)}`);
  return [
    ...fpmPoolHead({
      program: "phpapp",
      runDir: o.paths.run,
      pool: "app",
      poolUser: o.poolUser,
      socket: fpmSocket(o.paths),
      maxChildren: o.maxChildren,
    }),
    ...Object.entries(env).map(([k, v]) => `env[${k}] = ${v}`),
    `env[DB_PASSWORD_FILE] = ${passwordFile(o.paths)}`,
    "php_admin_flag[display_errors] = off",
    "php_admin_flag[log_errors] = on",
    "php_admin_flag[expose_php] = off",
    "",
  ].join("\n");
}
