// Whether a lifecycle event may be acted on: its group is one of this cluster's, and the instance's
// place in the groups (and its cluster tag) agrees with what the event claims. A forged or
// mismatched event is refused before anything changes. Pure: the caller observes, this decides.
import type { GroupInfo, InstanceInfo, NodeRecord, Role } from "./model.ts";
import { CLUSTER_TAG } from "./model.ts";

export type EventVerdict = { ok: true } | { ok: false; reason: string };

/** Lifecycle states in which a launch event is expected. InService: a late duplicate (every launch
 * step is idempotent), or a group whose hook already timed out and continued. */
const LAUNCH_STATES = new Set(["Pending", "Pending:Wait", "Pending:Proceed", "InService"]);
/** States in which a terminate event is expected while the group still lists the instance. */
const TERMINATE_STATES = new Set(["Terminating", "Terminating:Wait", "Terminating:Proceed"]);

export function checkLifecycleEvent(input: {
  kind: "launch" | "terminate";
  instanceId: string;
  groupName: string;
  clusterName: string;
  /** This cluster's groups by role. */
  ourGroups: Record<Role, string>;
  /** This cluster's groups as described now (the event's among them, if it exists). */
  groups: GroupInfo[];
  /** The instance as EC2 describes it, if it still exists. */
  instance?: InstanceInfo | undefined;
  /** The instance's record in the registry, if any. */
  registered?: Pick<NodeRecord, "role"> | undefined;
}): EventVerdict {
  const { kind, instanceId: id, groupName } = input;
  const refuse = (reason: string): EventVerdict => ({ ok: false, reason });
  const role = (Object.keys(input.ourGroups) as Role[]).find((r) => input.ourGroups[r] === groupName);
  if (!role) {
    const ours = Object.values(input.ourGroups).join(", ");
    return refuse(`group ${groupName} is not one of this cluster's groups (${ours})`);
  }
  const member = input.groups.find((g) => g.name === groupName)?.members.find((m) => m.instanceId === id);
  const elsewhere = input.groups.find(
    (g) => g.name !== groupName && g.members.some((m) => m.instanceId === id),
  );
  if (elsewhere) return refuse(`instance ${id} is in group ${elsewhere.name}, not ${groupName}`);
  if (input.registered && input.registered.role !== role) {
    return refuse(
      `instance ${id} is registered as a ${input.registered.role} node, not ${role} (${groupName})`,
    );
  }
  if (kind === "launch") {
    if (!member) return refuse(`instance ${id} is not in group ${groupName}`);
    if (!LAUNCH_STATES.has(member.lifecycleState)) {
      return refuse(`instance ${id} is ${member.lifecycleState} in ${groupName}, not launching`);
    }
    // An instance EC2 does not describe (yet) is the launch's own NotFound; one it describes must
    // carry the cluster's tag, which its group propagates at launch.
    const tag = input.instance?.clusterTag;
    if (input.instance && tag !== input.clusterName) {
      return refuse(
        `instance ${id} does not carry ${CLUSTER_TAG}=${input.clusterName} (${tag === undefined ? "no tag" : `got ${tag}`})`,
      );
    }
    return { ok: true };
  }
  // A terminating instance may already be gone from the group (the action completed, or the group
  // lists it no more); while listed it must be terminating.
  if (member && !TERMINATE_STATES.has(member.lifecycleState)) {
    return refuse(`instance ${id} is ${member.lifecycleState} in ${groupName}: no termination is under way`);
  }
  return { ok: true };
}
