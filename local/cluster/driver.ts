// Plays the part of Auto Scaling and EventBridge for the local cluster: it watches the groups in moto,
// lays out a node directory for each new instance, and delivers launch/terminate lifecycle events to
// the real lifecycle handler, as AWS would.
import type { Role } from "../../functions/domain/model.ts";
import { killLocalNode, prepareLocalNode } from "../node.ts";
import { createLocalCommands } from "../commands.ts";
import { UNIT_STATES_UNIT_NAME } from "../../functions/domain/unitStates.ts";
import type { Groups } from "../../functions/ports/index.ts";
import { lifecycleEvent } from "./events.ts";
import type { LocalState } from "./state.ts";
import { LOCAL_REGION, awsEnvFor } from "../awsEnv.ts";
import { roleCredentials } from "./functions.ts";

/** A launched instance's address and zone (EC2, here moto), for its node's first-boot files. */
export type DescribeNodes = (ids: string[]) => Promise<Map<string, { address: string; zone: string }>>;

export interface LocalFunctions {
  lifecycle(event: unknown): Promise<unknown>;
}

export type Progress = (line: string) => void;

export interface Membership {
  role: Role;
  group: string;
  ids: string[];
}

export async function observeGroups(groups: Groups, state: LocalState): Promise<Membership[]> {
  const infos = await groups.describeGroups(Object.values(state.groups));
  return infos.map((g) => ({
    role: g.role,
    group: g.name,
    ids: g.members
      .filter((m) => !m.lifecycleState.startsWith("Terminat"))
      .map((m) => m.instanceId)
      .sort(),
  }));
}

/**
 * Deliver the events that take the cluster from `before` to `after`: terminations first (their
 * nodes die once the handler completed the action), then launches, all of one kind at once (AWS
 * delivers a burst concurrently too).
 */
export async function deliverChanges(opts: {
  root: string;
  state: LocalState;
  before: Membership[];
  after: Membership[];
  fns: LocalFunctions;
  progress: Progress;
  describe?: DescribeNodes;
}): Promise<{ launched: string[]; terminated: string[] }> {
  const { root, state, fns, progress } = opts;
  const was = new Map(opts.before.flatMap((m) => m.ids.map((id) => [id, m] as const)));
  const now = new Map(opts.after.flatMap((m) => m.ids.map((id) => [id, m] as const)));
  const terminated = [...was.keys()].filter((id) => !now.has(id));
  const launched = [...now.keys()].filter((id) => !was.has(id));

  const event = (kind: "launch" | "terminate", id: string, m: Membership) =>
    lifecycleEvent({
      kind,
      instanceId: id,
      groupName: m.group,
      hookName: state.hooks[m.role]![kind],
      region: LOCAL_REGION,
    });

  await Promise.all(
    terminated.map(async (id) => {
      const m = was.get(id)!;
      progress(`terminate ${m.role} ${id}`);
      await fns.lifecycle(event("terminate", id, m));
      await killLocalNode(root, id, "SIGTERM");
    }),
  );
  const described =
    launched.length && opts.describe
      ? await opts.describe(launched)
      : new Map<string, { address: string; zone: string }>();
  await Promise.all(
    launched.map(async (id) => {
      const m = now.get(id)!;
      const d = described.get(id);
      prepareLocalNode(
        root,
        id,
        m.role,
        d && {
          ...d,
          clusterName: state.clusterName,
          stackName: state.stackName,
          domain: state.domain,
          zoneId: state.zoneId,
          snapshotBucket: state.bucket,
          etcdTls: state.functionEnv.ETCD_TLS === "true",
          ...(state.userPool ? { userPool: state.userPool } : {}),
          ...(state.frontDoorTls ? { frontDoorTls: state.frontDoorTls } : {}),
          // A node's programs (presence-dns) call AWS with the instance profile's role, as on EC2.
          aws: {
            ...awsEnvFor(state.motoEndpoint, roleCredentials(state, "node")),
            AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
          },
        },
      );
      // Boot: systemd starts the units first boot enabled (the unit-state publisher), beside the
      // launch as on EC2.
      if (d) await bootLocalNode(root, id);
      progress(`launch ${m.role} ${id}`);
      await fns.lifecycle(event("launch", id, m));
    }),
  );
  return { launched, terminated };
}

async function bootLocalNode(root: string, id: string): Promise<void> {
  const [r] = await createLocalCommands({ root }).run({
    instanceIds: [id],
    script: `systemctl enable --now ${UNIT_STATES_UNIT_NAME}`,
    comment: "boot: units first boot enabled",
    timeoutSeconds: 60,
  });
  if (r?.status !== "Success")
    throw new Error(`node ${id} did not start ${UNIT_STATES_UNIT_NAME}: ${r?.stderr.trim() || r?.status}`);
}
