// `reconcile` (EventBridge schedule): repairs drift between groups, etcd, registry, DNS and units
// (operations/reconcile.ts).
import { handleReconcile } from "../operations/reconcile.ts";
import { lambdaHandler } from "../runtime/handler.ts";
import { lifecycleDeps, wiring, type Wiring } from "../runtime/wiring.ts";

export const reconcileHandler = (w: () => Wiring) =>
  lambdaHandler("reconcile", (_event, log) => handleReconcile(lifecycleDeps(w()), log));

/** The Lambda entry point. */
export const handler = reconcileHandler(wiring);
