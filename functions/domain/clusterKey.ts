// The cluster's KMS key, by alias: what SecureString parameters and snapshots are encrypted under.

/** The key's alias: `alias/devcluster/<cluster>` (the template creates it; writers name the key by it). */
export const clusterKeyAlias = (cluster: string) => `alias/devcluster/${cluster}`;

/** Where the cluster's parameters live: `/devcluster/<cluster>/...` (nodes may read only these). */
export const clusterParameterPrefix = (cluster: string) => `/devcluster/${cluster}/`;
