// php-fpm's configuration as the PHP images write it (pure): the global section and one pool whose
// socket nginx's workers (www-data) reach, without the pool's own environment and settings.

/** `[global]` and the pool's head: its user, its socket, its process manager. */
export function fpmPoolHead(o: {
  program: string;
  runDir: string;
  pool: string;
  poolUser: string;
  socket: string;
  maxChildren: number;
}): string[] {
  return [
    `; Written by the ${o.program} program at start; edits are replaced.`,
    "[global]",
    "error_log = /proc/self/fd/2",
    "daemonize = no",
    `pid = ${o.runDir}/php-fpm.pid`,
    `[${o.pool}]`,
    `user = ${o.poolUser}`,
    `group = ${o.poolUser}`,
    `listen = ${o.socket}`,
    `listen.owner = ${o.poolUser}`,
    // nginx's workers (www-data) reach the socket; they cannot read the pool's secrets.
    "listen.group = www-data",
    "listen.mode = 0660",
    "pm = dynamic",
    `pm.max_children = ${o.maxChildren}`,
    "pm.start_servers = 1",
    "pm.min_spare_servers = 1",
    "pm.max_spare_servers = 2",
    "catch_workers_output = yes",
    "decorate_workers_output = no",
    "clear_env = yes",
  ];
}
