// dashboard: the operator's dashboard as a cluster service, behind the front door and single sign-on.
// It reads the deployed stack as the command line does (the status function through Lambda Invoke,
// events from the functions' log groups, snapshots through the snapshot function), and serves only
// requests that come from a front door announced in etcd, trusting the X-Remote-User/Groups headers
// those set after sign-in; only the admins group may act.
import { z } from "zod";
import { SERVICE_NAME } from "../../../functions/domain/presence.ts";
import { awsOpsTarget } from "../../../bin/ops/awsTarget.ts";
import { startDashboard } from "../../../bin/ops/dashboard.ts";
import { etcdEndpoints, int, loadEnv } from "../../shared/config.ts";
import { etcdClient, etcdTlsFromEnv } from "../../shared/etcd.ts";
import { followFrontDoors } from "../../shared/frontDoors.ts";
import { programLogger } from "../../shared/log.ts";
import { runProgram } from "../../shared/run.ts";

const log = programLogger("dashboard");

const Env = z.object({
  LISTEN_ADDRESS: z.ipv4({ error: "required: the node's private address" }),
  PORT: int(1, 65535, 8095),
  STACK_NAME: z.string({ error: "required: the cluster's CloudFormation stack" }).min(1),
  AWS_REGION: z.string({ error: "required: the stack's region" }).min(1),
  ETCD_ENDPOINTS: etcdEndpoints,
  /** The service whose announced instances are the front doors. */
  FRONT_DOOR_SERVICE: z.string().regex(SERVICE_NAME, "a service name").default("nginx"),
  DEBOUNCE_MS: int(0, 60_000, 200),
});

await runProgram(log, async () => {
  const env = loadEnv(Env);
  const target = await awsOpsTarget({ stack: env.STACK_NAME, region: env.AWS_REGION });
  const etcd = etcdClient(env.ETCD_ENDPOINTS, etcdTlsFromEnv());
  const doors = followFrontDoors(etcd, env.FRONT_DOOR_SERVICE, { debounceMs: env.DEBOUNCE_MS, log });
  const ui = await startDashboard(target, {
    host: env.LISTEN_ADDRESS,
    port: env.PORT,
    trustProxy: (address) => doors.has(address),
    // The nodes' role may send no node command (any container could then run commands as root on
    // every node); it may invoke the restart function, which restarts only a placed unit.
    restartByFunction: true,
  });
  log.info("listening", { code: "listening", url: ui.url, stack: env.STACK_NAME });
  return {
    stop: async () => {
      await ui.close();
      await doors.close();
      etcd.close();
      await target.close();
    },
  };
});
