// `reconcile` (EventBridge schedules): every 5 minutes repairs drift between groups, etcd, registry,
// DNS and units (operations/reconcile.ts); every minute, with input {"mode":"promote"}, promotes
// learners that have caught up.
import { randomUUID } from "node:crypto";
import {
  handleReconcile,
  promotePending,
  type PromoteReport,
  type ReconcileReport,
} from "../operations/reconcile.ts";
import { invocationLogger } from "../runtime/log.ts";
import { lifecycleDeps, wiring, type Wiring } from "../runtime/wiring.ts";

const isPromoteCheck = (event: unknown): boolean =>
  typeof event === "object" && event !== null && (event as { mode?: unknown }).mode === "promote";

export function reconcileHandler(w: () => Wiring) {
  return async (
    event: unknown,
    context?: { awsRequestId?: string },
  ): Promise<ReconcileReport | PromoteReport> => {
    const log = invocationLogger("reconcile", context?.awsRequestId ?? randomUUID());
    if (isPromoteCheck(event)) return promotePending(lifecycleDeps(w()), log);
    return handleReconcile(lifecycleDeps(w()), log);
  };
}

/** The Lambda entry point. */
export const handler = reconcileHandler(wiring);
