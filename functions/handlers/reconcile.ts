// `reconcile` (EventBridge schedules): every 5 minutes repairs drift between groups, etcd, registry,
// DNS and units (operations/reconcile.ts); every minute, with input {"mode":"promote"}, promotes
// learners that have caught up.
import {
  handleReconcile,
  promotePending,
  type PromoteReport,
  type ReconcileReport,
} from "../operations/reconcile.ts";
import { lambdaHandler } from "../runtime/handler.ts";
import { lifecycleDeps, wiring, type Wiring } from "../runtime/wiring.ts";

const isPromoteCheck = (event: unknown): boolean =>
  typeof event === "object" && event !== null && (event as { mode?: unknown }).mode === "promote";

export const reconcileHandler = (w: () => Wiring) =>
  lambdaHandler<ReconcileReport | PromoteReport>("reconcile", (event, log) =>
    isPromoteCheck(event)
      ? promotePending(lifecycleDeps(w()), log)
      : handleReconcile(lifecycleDeps(w()), log),
  );

/** The Lambda entry point. */
export const handler = reconcileHandler(wiring);
