// etcd authentication and roles over the v3 auth API: each node's role and user kept equal to
// its planned access (domain/etcdAccess.ts), and authentication switched on once `root` exists.
// Every call is idempotent: what exists is kept, what differs is granted or revoked.
import {
  EtcdRoleExistsError,
  EtcdRoleNotFoundError,
  EtcdUserExistsError,
  EtcdUserNotFoundError,
  type Etcd3,
} from "etcd3";
import { planGrants, type KeyGrant, type NodeAccess, type Permission } from "../../domain/etcdAccess.ts";
import { CONTROL_PLANE_USER } from "../../domain/etcdUser.ts";
import type { NodeAccessStore } from "../../ports/units.ts";

/** etcd's end of a prefix range: the prefix with its last byte incremented. */
function prefixEnd(key: Buffer): Buffer {
  const end = Buffer.from(key);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

const PERMISSIONS: Permission[] = ["Read", "Write", "Readwrite"];
const ignore =
  (...kinds: (new (...a: never[]) => Error)[]) =>
  (e: unknown) => {
    if (!kinds.some((k) => e instanceof k)) throw e;
  };

/** A range as etcd stores it: a single key (no end), or a prefix. Anything else is not ours: revoked. */
function grantOf(p: {
  permType?: unknown;
  key?: Buffer | string;
  range_end?: Buffer | string;
}): KeyGrant | undefined {
  const key = Buffer.from(p.key ?? "");
  const end = Buffer.from(p.range_end ?? "");
  const permission = typeof p.permType === "number" ? PERMISSIONS[p.permType] : (p.permType as Permission);
  if (!permission) return undefined;
  if (!end.length) return { permission, key: key.toString(), prefix: false };
  if (end.equals(prefixEnd(key))) return { permission, key: key.toString(), prefix: true };
  return undefined;
}

/** The units sync's port over these calls. */
export function etcdNodeAccessStore(client: Etcd3): NodeAccessStore {
  const a = etcdAccess(client);
  return { apply: (x) => a.applyNodeAccess(x), remove: (x) => a.removeNodeAccess(x) };
}

export function etcdAccess(client: Etcd3) {
  const auth = client.auth;
  return {
    /** The node's role holds exactly its planned grants, and its user (no password: certificate only) has it. */
    async applyNodeAccess(a: NodeAccess): Promise<{ granted: number; revoked: number }> {
      await auth.roleAdd({ name: a.role }).catch(ignore(EtcdRoleExistsError));
      const { perm = [] } = await auth.roleGet({ role: a.role });
      const current: KeyGrant[] = [];
      for (const p of perm) {
        const g = grantOf(p);
        if (g) current.push(g);
        else await auth.roleRevokePermission({ role: a.role, key: p.key, range_end: p.range_end });
      }
      const plan = planGrants(current, a.grants);
      for (const g of plan.revoke) {
        const key = Buffer.from(g.key);
        await auth.roleRevokePermission({
          role: a.role,
          key,
          ...(g.prefix ? { range_end: prefixEnd(key) } : {}),
        });
      }
      for (const g of plan.grant) {
        const key = Buffer.from(g.key);
        await auth.roleGrantPermission({
          name: a.role,
          // An empty range end is etcd's "this key only".
          perm: { permType: g.permission, key, range_end: g.prefix ? prefixEnd(key) : Buffer.alloc(0) },
        });
      }
      await auth.userAdd({ name: a.user, options: { no_password: true } }).catch(ignore(EtcdUserExistsError));
      await auth.userGrantRole({ user: a.user, role: a.role });
      return { granted: plan.grant.length, revoked: plan.revoke.length };
    },

    /** A node that is gone keeps no user or role. */
    async removeNodeAccess(a: Pick<NodeAccess, "user" | "role">): Promise<void> {
      await auth.userDelete({ name: a.user }).catch(ignore(EtcdUserNotFoundError));
      await auth.roleDelete({ role: a.role }).catch(ignore(EtcdRoleNotFoundError));
    },

    /**
     * Authentication on, with the control plane's user `root` (role `root`: everything). etcd
     * refuses to enable auth without a root user; enabling it again changes nothing.
     */
    async enableAuth(): Promise<void> {
      await auth
        .userAdd({ name: CONTROL_PLANE_USER, options: { no_password: true } })
        .catch(ignore(EtcdUserExistsError));
      await auth.roleAdd({ name: "root" }).catch(ignore(EtcdRoleExistsError));
      await auth.userGrantRole({ user: CONTROL_PLANE_USER, role: "root" });
      await auth.authEnable();
    },
  };
}
