// What the operator's commands and the dashboard act on: a cluster's functions, commands on its
// nodes, and a shell on one node. A local cluster and a deployed stack are two implementations, so
// every command prints the same thing for both.
import type { FunctionName } from "../../cloudformation/options.ts";
import type { Commands } from "../../functions/ports/index.ts";

export interface OpsTarget {
  /** What the commands act on, for people: "local cluster in .devcluster", "stack devcluster-dev (eu-west-1)". */
  describe: string;
  /** The cluster's name (what a restore's confirmation names). */
  cluster: string;
  /** The team's services the cluster runs (its deployed `services` setting): what a push reads of team/. */
  services: string;
  /** A deployed function called with a payload, as `sls invoke -f <fn> --data <payload>` does. */
  invoke(fn: FunctionName, payload: unknown): Promise<unknown>;
  /** Scripts on nodes: SSM Run Command on AWS, the local runner locally. */
  commands: Commands;
  /** An interactive shell on a node, on this terminal; resolves with its exit code. */
  shell(instanceId: string): Promise<number>;
  /** Where the control plane's recent log lines come from (the dashboard's events). */
  recentEvents(limit: number): Promise<ControlPlaneEvent[]>;
  close(): Promise<void>;
}

/** One line a handler logged (its JSON fields, as the runtime's logger writes them). */
export interface ControlPlaneEvent {
  time: string;
  level: string;
  fn: string;
  msg: string;
  fields: Record<string, unknown>;
}

/** A scheduled event, as EventBridge sends reconcile and snapshot. */
export const SCHEDULED = { source: "aws.events", "detail-type": "Scheduled Event" };
