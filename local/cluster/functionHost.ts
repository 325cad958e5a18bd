// One deployed function's "container" for the local cluster: a worker thread with the function's own
// environment (its role's credentials included), its own SDK clients and warm wiring, answering
// invocations from the thread that plays Lambda.
import { randomUUID } from "node:crypto";
import { parentPort, workerData } from "node:worker_threads";
import type { FunctionName } from "../../cloudformation/options.ts";
import { createWiring, type Wiring } from "../../functions/runtime/wiring.ts";
import { loadConfig } from "../../functions/runtime/config.ts";
import { createLocalCommands } from "../commands.ts";
import { localLifecycleActions } from "../lifecycleActions.ts";

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
} satisfies Record<FunctionName, unknown>;

const wiring: Wiring = createWiring(loadConfig(process.env), {
  commands: createLocalCommands({ root: dir, containers: true }),
  actions: localLifecycleActions(dir),
  // No DNS server answers for the private zone locally (and none is asked off loopback).
  resolveSrv: null,
});
const handler = (await handlers[fn]())(() => wiring);

parentPort!.on("message", (m: Invocation) => {
  handler(m.payload as never, { awsRequestId: randomUUID() }).then(
    // What Lambda hands back is the result's JSON.
    (result: unknown) =>
      parentPort!.postMessage({ id: m.id, result: JSON.parse(JSON.stringify(result ?? null)) }),
    (e: unknown) => {
      const err = e instanceof Error ? e : new Error(String(e));
      parentPort!.postMessage({
        id: m.id,
        error: { name: err.name, message: err.message, stack: err.stack },
      });
    },
  );
});
parentPort!.postMessage({ ready: true });
