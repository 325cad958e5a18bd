// What each node may do in etcd once authentication is on (pure): a node's programs read the
// services' presence and write only the presence of the instances placed on that node. The user
// is the node's instance id, the CN of its certificate (etcd takes the CN as the user name).
import { InvariantError } from "./errors.ts";
import { SERVICES_PREFIX, unitStatesKey } from "./etcdKeys.ts";
import { instanceKey, masterKey, INSTANCE_ID, SERVICE_NAME } from "./presence.ts";

export type Permission = "Read" | "Write" | "Readwrite";
/** A key, or every key under a prefix. */
export interface KeyGrant {
  permission: Permission;
  key: string;
  prefix: boolean;
}
export interface NodeAccess {
  user: string;
  role: string;
  grants: KeyGrant[];
}
/** An instance a node's presence announces (`/services/<service>/instances/<instance>`). */
export interface Announced {
  service: string;
  instance: string;
}

export const nodeRole = (instanceId: string) => `node-${instanceId}`;

/**
 * A node's role: read `/services/` (front door, ambassador, service DNS follow it); write its own
 * unit states; read and write
 * each announced instance's record and its plain keys, and its service's master key (any instance
 * may win the election). The record is granted as one key plus the prefix `<key>/`, never the
 * prefix `<key>`: instance `1` must not cover instance `10`.
 */
export function nodeAccess(instanceId: string, announced: Announced[]): NodeAccess {
  if (!/^i-[0-9a-f]{8,17}$/.test(instanceId)) throw new InvariantError(`not an instance id: ${instanceId}`);
  const grants: KeyGrant[] = [
    { permission: "Read", key: SERVICES_PREFIX, prefix: true },
    // Its own unit states (unitStates.ts); revoking their lease needs the key too.
    { permission: "Readwrite", key: unitStatesKey(instanceId), prefix: false },
  ];
  for (const a of announced) {
    if (!SERVICE_NAME.test(a.service) || !INSTANCE_ID.test(a.instance))
      throw new InvariantError(`not a presence name: ${a.service}/${a.instance}`);
    const key = instanceKey(a.service, a.instance);
    grants.push(
      { permission: "Readwrite", key, prefix: false },
      { permission: "Readwrite", key: `${key}/`, prefix: true },
      { permission: "Readwrite", key: masterKey(a.service), prefix: false },
    );
  }
  return { user: instanceId, role: nodeRole(instanceId), grants: uniqueGrants(grants) };
}

const grantId = (g: KeyGrant) => `${g.permission} ${g.prefix ? "prefix" : "key"} ${g.key}`;

function uniqueGrants(gs: KeyGrant[]): KeyGrant[] {
  const seen = new Map(gs.map((g) => [grantId(g), g]));
  return [...seen.values()].sort((a, b) => grantId(a).localeCompare(grantId(b)));
}

/** What to change on a role so it holds exactly `desired` (a re-placement revokes what moved away). */
export function planGrants(
  current: KeyGrant[],
  desired: KeyGrant[],
): { grant: KeyGrant[]; revoke: KeyGrant[] } {
  const have = new Set(current.map(grantId));
  const want = new Set(desired.map(grantId));
  return {
    grant: uniqueGrants(desired.filter((g) => !have.has(grantId(g)))),
    revoke: uniqueGrants(current.filter((g) => !want.has(grantId(g)))),
  };
}
