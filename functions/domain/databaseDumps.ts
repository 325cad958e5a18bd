// Where database services keep their logical dumps in the snapshot bucket: named once, for the
// program that writes them (containers/postgres) and the template that grants and expires them.

/** Every dump lives below this prefix of the snapshot bucket. */
export const DUMP_KEY_PREFIX = "db-dumps/";

/** A database service's dumps: `db-dumps/<cluster>/<service>/<database>/<time>.dump`. */
export const dumpPrefix = (cluster: string, service: string) => `${DUMP_KEY_PREFIX}${cluster}/${service}/`;
