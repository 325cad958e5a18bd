// The operator's commands against a local cluster: its deployed functions run through the local
// function host (each with its own role, IAM enforced by moto), node scripts through the local
// command runner, a node's shell in its directory, events from the functions' log groups in moto's
// CloudWatch Logs (the function host ships them there, as Lambda does).
import { spawn } from "node:child_process";
import { join } from "node:path";
import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { NotFoundError } from "../../functions/domain/errors.ts";
import type { OpsTarget } from "../../bin/ops/target.ts";
import { logGroupOf, readCloudWatchEvents } from "../../bin/ops/cloudWatchEvents.ts";
import { LOCAL_REGION } from "../awsEnv.ts";
import { createLocalCommands } from "../commands.ts";
import { isNodeUp, nodeDir } from "../node.ts";
import { PROJECT_ROOT } from "../paths.ts";
import { attach } from "./attach.ts";
import { invokeWarm } from "./functionsHost.ts";

export async function localOpsTarget(dir: string): Promise<OpsTarget> {
  const { state, fns } = await attach(dir);
  // The operator's side reads with the administrator's credentials, as `aws logs` would.
  const logs = new CloudWatchLogsClient({
    endpoint: state.motoEndpoint,
    region: LOCAL_REGION,
    credentials: state.admin,
    maxAttempts: 3,
  });
  const groups = Object.values(state.functions).map((f) => logGroupOf(f.name));
  return {
    describe: `local cluster in ${dir}`,
    cluster: state.clusterName,
    services: state.functionEnv.SERVICES ?? "none",
    // Through the cluster's warm host when it runs (as a Lambda container stays warm), else here.
    invoke: async (fn, payload) =>
      ((await invokeWarm(dir, state.createdAt, fn, payload)) ?? { result: await fns.invoke(fn, payload) })
        .result,
    commands: createLocalCommands({ root: dir, containers: true }),
    shell(instanceId) {
      if (!isNodeUp(dir, instanceId)) throw new NotFoundError(`node ${instanceId} is not running`);
      const root = nodeDir(dir, instanceId);
      return new Promise((resolve, reject) => {
        // What SSM Session Manager gives on a node: a root shell; here the node is its directory.
        const child = spawn("bash", ["-i"], {
          cwd: root,
          stdio: "inherit",
          env: {
            ...process.env,
            ROOT: root,
            INSTANCE_ID: instanceId,
            PATH: `${join(root, "opt/bin")}:${join(PROJECT_ROOT, "local", "bin")}:${process.env.PATH ?? ""}`,
            PS1: `${instanceId}:\\w# `,
          },
        });
        child.on("error", reject);
        child.on("exit", (code) => resolve(code ?? 1));
      });
    },
    recentEvents: (limit) => readCloudWatchEvents(logs, groups, limit),
    close: async () => logs.destroy(),
  };
}
