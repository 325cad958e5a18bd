// The restart function's part of the composition root: the placement read from etcd through the
// main group's addresses, and node commands over SSM. Kept apart from wiring.ts so its bundle (and
// so its role, test/unit/cloudformation/iamFromCode.test.ts) holds only these calls.
import { SSMClient } from "@aws-sdk/client-ssm";
import { createSsmCommands } from "../adapters/aws/ssmCommands.ts";
import { etcdPlacementStore } from "../adapters/etcd/placementStore.ts";
import { DevclusterError } from "../domain/errors.ts";
import { endpointsOf } from "../operations/observe.ts";
import type { RestartDeps } from "../operations/restartUnit.ts";
import { etcdClientsByEndpoints } from "./etcdClients.ts";
import { controlPlaneTls, loadGroups, type Wiring } from "./snapshotWiring.ts";

export { wiring, type Wiring } from "./snapshotWiring.ts";

let ssm: SSMClient | undefined;

/** restart: etcd through the main group's live instances; its clients are kept while warm. */
export function restartDeps(w: Wiring): RestartDeps {
  const cache = (w.caches.restart ??= etcdClientsByEndpoints(controlPlaneTls(w))) as ReturnType<
    typeof etcdClientsByEndpoints
  >;
  return {
    placement: async () => {
      const groups = await loadGroups();
      const [main] = await groups.describeGroups([w.cfg.GROUP_MAIN]);
      const members = main?.members ?? [];
      const instances = members.length
        ? await groups.describeInstances(members.map((m) => m.instanceId))
        : [];
      const ip = new Map(instances.map((i) => [i.instanceId, i.privateIp]));
      const endpoints = endpointsOf(
        {
          instances: members
            .filter((m) => ip.get(m.instanceId))
            .map((m) => ({
              instanceId: m.instanceId,
              ip: ip.get(m.instanceId)!,
              lifecycleState: m.lifecycleState,
            })),
        },
        [],
        w.cfg.ETCD_TLS,
      );
      if (!endpoints.length) throw new DevclusterError("restart: no main node to reach etcd through");
      return etcdPlacementStore((await cache(endpoints)).client);
    },
    commands: (w.commands ??=
      w.over.commands ?? createSsmCommands({ ssm: (ssm ??= new SSMClient({ maxAttempts: 5 })) })),
  };
}
