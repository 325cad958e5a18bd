// Every key the control plane and the node programs keep in etcd, named once.

/** `/cluster/nodes/<instance-id>`: the node registry (NodeRecord as JSON). */
export const NODES_PREFIX = "/cluster/nodes/";
export const nodeKey = (instanceId: string) => `${NODES_PREFIX}${instanceId}`;

/** `/cluster/locks/<name>`: a lock held through a lease (membership, dns). */
export const LOCKS_PREFIX = "/cluster/locks/";
export const lockKey = (name: string) => `${LOCKS_PREFIX}${name}`;

/** The running etcd cluster's token, kept at bootstrap for joining members' settings. */
export const TOKEN_KEY = "/cluster/etcd/token";

/** `/cluster/leftovers/<instance-id>`: what a terminate could not do, for reconcile ("" once settled). */
export const LEFTOVERS_PREFIX = "/cluster/leftovers/";
export const leftoverKey = (instanceId: string) => `${LEFTOVERS_PREFIX}${instanceId}`;

/** The registry revision the zone was last synced from. */
export const DNS_SYNCED_KEY = "/cluster/dns/synced";

/** Written by a terminate of an unknown node, for a revision its DNS sync can wait for. */
export const LAST_EVENT_KEY = "/cluster/events/last";

/** The units' placement (compare-and-swap). */
export const PLACEMENT_KEY = "/cluster/placement";

/** `/services/<service>/<instance>`: presence records the node programs keep (docs/UNITS.md). */
export const SERVICES_PREFIX = "/services/";

/**
 * `/machines/<instance-id>/units`: the unit states a node publishes on a lease (unitStates.ts),
 * outside `/cluster/`, which no node may write.
 */
export const UNIT_STATES_PREFIX = "/machines/";
export const unitStatesKey = (instanceId: string) => `${UNIT_STATES_PREFIX}${instanceId}/units`;
