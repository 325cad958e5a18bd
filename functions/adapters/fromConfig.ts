// The adapters configuration selects: node commands (SSM, or the local runner standing in for the SSM
// agent) and lifecycle actions (Auto Scaling, or the local cluster's stand-in). One place decides.
import type { Config } from "../core/config.ts";
import type { Commands, LifecycleActions } from "../ports/index.ts";
import { awsClients } from "./aws.ts";
import { createLocalCommands } from "./localCommands.ts";
import { awsLifecycleActions } from "./lifecycleActions.ts";
import { localLifecycleActions } from "./localLifecycleActions.ts";
import { createSsmCommands } from "./ssmCommands.ts";

export function commandsFor(cfg: Config): Commands {
  return cfg.COMMANDS === "local" ? createLocalCommands({ root: cfg.LOCAL_ROOT!, containers: cfg.LOCAL_CONTAINERS === "podman" }) : createSsmCommands({ ssm: awsClients().ssm });
}

export function lifecycleActionsFor(cfg: Config): LifecycleActions {
  return cfg.LIFECYCLE_ACTIONS === "local"
    ? localLifecycleActions(cfg.LOCAL_ROOT!)
    : awsLifecycleActions(awsClients().autoscaling);
}
