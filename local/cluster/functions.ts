// The real Lambda handlers, invoked in-process the way Lambda would, composed for the local cluster:
// its configuration, moto as the AWS API, and the local stand-ins for SSM, lifecycle actions and DNS.
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import type { Wiring } from "../../functions/runtime/wiring.ts";
import { createLocalCommands } from "../commands.ts";
import { localLifecycleActions } from "../lifecycleActions.ts";
import { awsEnvFor } from "../moto.ts";
import type { FunctionName } from "../../cloudformation/options.ts";
import type { LocalState } from "./state.ts";

/**
 * What the handlers run with: the deployed functions' own environment (read back from moto after
 * `sls deploy`), plus what differs on this machine: the AWS endpoint (moto) and the log file.
 */
export function localEnv(dir: string, state: LocalState): Record<string, string> {
  return {
    ...state.functionEnv,
    ...awsEnvFor(state.motoEndpoint),
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
  /** The function called with this payload, as `sls invoke -f <function> --data <payload>` calls it on AWS. */
  invoke(fn: FunctionName, payload: unknown): Promise<unknown>;
}

const context = () => ({ awsRequestId: randomUUID() });

/** The cluster the kept wiring was built for, and that wiring (clients, caches: a warm "container"). */
let warm: { cluster: string; wiring: Wiring } | undefined;

/** Point the AWS SDK at the local cluster's moto, then compose the handlers for it. */
export async function loadFunctions(dir: string, state: LocalState): Promise<LocalFunctionSet> {
  const env = localEnv(dir, state);
  // The SDK's standard endpoint settings and the log file are read from the process environment.
  Object.assign(process.env, env);
  // Like a Lambda container, the handlers keep their dependencies (clients) across calls; a process
  // that drives another cluster (tests, bench: up after down) needs a fresh "container".
  const cluster = `${dir}|${state.createdAt}`;
  // Loaded on first use: the CLI's other commands need none of the handlers' code.
  const [
    { loadConfig },
    { createWiring },
    { lifecycleHandler },
    { reconcileHandler },
    { snapshotHandler },
    { restoreHandler },
    { unitsHandler },
  ] = await Promise.all([
    import("../../functions/runtime/config.ts"),
    import("../../functions/runtime/wiring.ts"),
    import("../../functions/handlers/lifecycle.ts"),
    import("../../functions/handlers/reconcile.ts"),
    import("../../functions/handlers/snapshot.ts"),
    import("../../functions/handlers/restore.ts"),
    import("../../functions/handlers/units.ts"),
  ]);
  if (warm?.cluster !== cluster) {
    const wiring = createWiring(loadConfig(env), {
      commands: createLocalCommands({ root: dir, containers: true }),
      actions: localLifecycleActions(dir),
      // No DNS server answers for the private zone locally (and none is asked off loopback).
      resolveSrv: null,
    });
    warm = { cluster, wiring };
  }
  const w = () => warm!.wiring;
  const [lifecycle, reconcile, snapshot, restore, units] = [
    lifecycleHandler(w),
    reconcileHandler(w),
    snapshotHandler(w),
    restoreHandler(w),
    unitsHandler(w),
  ];
  return {
    lifecycle: (e) => lifecycle(e, context()),
    reconcile: () => reconcile({ source: "aws.events", "detail-type": "Scheduled Event" }, context()),
    snapshot: () => snapshot({ source: "aws.events", "detail-type": "Scheduled Event" }, context()),
    restore: (input) => restore(input, context()),
    units: (input) => units(input, context()),
    invoke: (fn, payload) =>
      ({ lifecycle, reconcile, snapshot, restore, units })[fn](payload as never, context()),
  };
}
