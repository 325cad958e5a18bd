// One deployed function's "container" for the local cluster: a worker thread with the function's own
// environment (its role's credentials included), its own SDK clients and warm wiring, answering
// invocations from the thread that plays Lambda.
import { randomUUID } from "node:crypto";
import { parentPort, workerData } from "node:worker_threads";
import type { FunctionName } from "../../cloudformation/options.ts";
import { createWiring, type Wiring } from "../../functions/runtime/wiring.ts";
import { loadConfig } from "../../functions/runtime/config.ts";
import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { defaultSink, setProcessLogSink } from "../../functions/runtime/log.ts";
import { createLocalCommands } from "../commands.ts";
import { ec2Attachments } from "../volumes.ts";
import { localLifecycleActions } from "../lifecycleActions.ts";
import { LogShipper } from "./logShipper.ts";
import { hideIpServerNameWarning } from "../nodeWarnings.ts";

hideIpServerNameWarning();

export interface Invocation {
  id: number;
  payload: unknown;
}
export type Answer =
  { id: number; result: unknown } | { id: number; error: { name: string; message: string; stack?: string } };

const { fn, dir } = workerData as { fn: FunctionName; dir: string };

const handlers = {
  lifecycle: async () => (await import("../../functions/handlers/lifecycle.ts")).lifecycleHandler,
  reconcile: async () => (await import("../../functions/handlers/reconcile.ts")).reconcileHandler,
  snapshot: async () => (await import("../../functions/handlers/snapshot.ts")).snapshotHandler,
  restore: async () => (await import("../../functions/handlers/restore.ts")).restoreHandler,
  units: async () => (await import("../../functions/handlers/units.ts")).unitsHandler,
  status: async () => (await import("../../functions/handlers/status.ts")).statusHandler,
  restart: async () => (await import("../../functions/handlers/restart.ts")).restartHandler,
} satisfies Record<FunctionName, unknown>;

// Lambda ships the function's output to its log group with the function's role; so does this host
// (the role allows logs:PutLogEvents on its own group only). The log file keeps every line as well.
const group = process.env.AWS_LAMBDA_LOG_GROUP_NAME;
const shipper = group ? new LogShipper(new CloudWatchLogsClient({ maxAttempts: 3 }), group) : undefined;
if (shipper)
  setProcessLogSink((line) => {
    defaultSink(line);
    shipper.add(line);
  });

/** Ships the invocation's lines; a failure to ship is written to the log file, never the answer's. */
const ship = async () => {
  try {
    await shipper?.flush();
  } catch (e) {
    defaultSink(
      JSON.stringify({
        level: "warn",
        time: new Date().toISOString(),
        msg: "log lines not shipped to CloudWatch Logs",
        fn,
        error: (e as Error).message,
      }),
    );
  }
};

const wiring: Wiring = createWiring(loadConfig(process.env), {
  // The machines learn what EC2 attached to them, read as this function's role (it may describe volumes).
  commands: createLocalCommands({ root: dir, containers: true, attachments: ec2Attachments() }),
  actions: localLifecycleActions(dir),
  // No DNS server answers for the private zone locally (and none is asked off loopback).
  resolveSrv: null,
});
const handler = (await handlers[fn]())(() => wiring);

parentPort!.on("message", (m: Invocation) => {
  handler(m.payload as never, { awsRequestId: randomUUID() })
    .then(
      // What Lambda hands back is the result's JSON.
      (result: unknown): Answer => ({ id: m.id, result: JSON.parse(JSON.stringify(result ?? null)) }),
      (e: unknown): Answer => {
        const err = e instanceof Error ? e : new Error(String(e));
        return { id: m.id, error: { name: err.name, message: err.message, stack: err.stack } };
      },
    )
    .then(async (answer) => {
      await ship();
      parentPort!.postMessage(answer);
    });
});
parentPort!.postMessage({ ready: true });
