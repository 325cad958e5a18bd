// The capabilities handlers use; adapters implement them for AWS, etcd and the local machine.
import type { CommandRequest, CommandResult } from "../domain/commands.ts";
import type { GroupInfo, InstanceInfo } from "../domain/model.ts";

/** Auto Scaling groups and EC2 instances. */
export interface Groups {
  describeGroups(names: string[]): Promise<GroupInfo[]>;
  describeInstances(ids: string[]): Promise<InstanceInfo[]>; // unknown ids are omitted, not an error
}

export type LifecycleResult = "CONTINUE" | "ABANDON";
export interface LifecycleActionRef {
  groupName: string;
  hookName: string;
  instanceId: string;
  token?: string | undefined;
}

/** Completing and extending Auto Scaling lifecycle actions (moto lacks both calls). */
export interface LifecycleActions {
  complete(ref: LifecycleActionRef, result: LifecycleResult): Promise<void>;
  heartbeat(ref: LifecycleActionRef): Promise<void>;
}

export type { CommandRequest, CommandResult, CommandStatus } from "../domain/commands.ts";

/** Commands on nodes: SSM Run Command in AWS, the local runner on one machine. */
export interface Commands {
  run(req: CommandRequest): Promise<CommandResult[]>;
}
