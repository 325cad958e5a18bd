// `reconcile` (EventBridge schedule): repairs drift between groups, etcd, registry, DNS and units
// (operations/reconcile.ts).
import { randomUUID } from "node:crypto";
import { handleReconcile, type ReconcileReport } from "../operations/reconcile.ts";
import { invocationLogger } from "../runtime/log.ts";
import { lifecycleDeps, wiring, type Wiring } from "../runtime/wiring.ts";

export function reconcileHandler(w: () => Wiring) {
  return async (_event: unknown, context?: { awsRequestId?: string }): Promise<ReconcileReport> => {
    const log = invocationLogger("reconcile", context?.awsRequestId ?? randomUUID());
    return handleReconcile(lifecycleDeps(w()), log);
  };
}

/** The Lambda entry point. */
export const handler = reconcileHandler(wiring);
