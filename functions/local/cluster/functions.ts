// The real Lambda handlers, invoked in-process the way Lambda would, with the local cluster's
// configuration in the environment (read by each handler's module-scope dependencies).
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { awsEnvFor } from "../moto.ts";
import type { LocalState } from "./state.ts";

export function localEnv(dir: string, state: LocalState): Record<string, string> {
  return {
    ...awsEnvFor(state.motoEndpoint),
    CLUSTER_NAME: state.clusterName,
    CLUSTER_DOMAIN: state.domain,
    PRIVATE_ZONE_ID: state.zoneId,
    SNAPSHOT_BUCKET: state.bucket,
    GROUP_MAIN: state.groups.main,
    GROUP_WORKER: state.groups.worker,
    GROUP_DATA: state.groups.data,
    COMMANDS: "local",
    LIFECYCLE_ACTIONS: "local",
    LOCAL_ROOT: dir,
    LOCAL_CONTAINERS: "podman",
    DEVCLUSTER_LOG_FILE: join(dir, "functions.log"),
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
  };
}

export interface LocalFunctionSet {
  lifecycle(event: unknown): Promise<unknown>;
  reconcile(): Promise<unknown>;
  snapshot(): Promise<unknown>;
  restore(input: unknown): Promise<unknown>;
  units(input: unknown): Promise<unknown>;
}

const context = () => ({ awsRequestId: randomUUID() });

/** The cluster whose configuration the handlers' shared dependencies were built from. */
let warmFor: string | undefined;

/** Point the environment at the local cluster, then load the handlers (their deps read it once). */
export async function loadFunctions(dir: string, state: LocalState): Promise<LocalFunctionSet> {
  Object.assign(process.env, localEnv(dir, state));
  // Like a Lambda container, the handlers keep their dependencies (config, clients) across calls; a
  // process that drives another cluster (tests, bench: up after down) needs a fresh "container".
  const cluster = `${dir}|${state.createdAt}`;
  if (warmFor !== undefined && warmFor !== cluster) {
    const { setDefaultDeps } = await import("../../lifecycle/deps.ts");
    setDefaultDeps(undefined);
  }
  warmFor = cluster;
  const [lifecycle, reconcile, snapshot, restore, units] = await Promise.all([
    import("../../lifecycle.ts"),
    import("../../reconcile.ts"),
    import("../../snapshot.ts"),
    import("../../restore.ts"),
    import("../../units.ts"),
  ]);
  return {
    lifecycle: (e) => lifecycle.handler(e, context()),
    reconcile: () => reconcile.handler({ source: "aws.events", "detail-type": "Scheduled Event" }, context()),
    snapshot: () => snapshot.handler({ source: "aws.events", "detail-type": "Scheduled Event" }, context()),
    restore: (input) => restore.handler(input, context()),
    units: (input) => units.handler(input, context()),
  };
}
