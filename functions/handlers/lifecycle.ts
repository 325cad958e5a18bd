// `lifecycle`: the Auto Scaling lifecycle actions of all three groups (EventBridge "EC2 Instance-launch
// Lifecycle Action" / "EC2 Instance-terminate Lifecycle Action"); operations/lifecycle.ts does the work.
import { randomUUID } from "node:crypto";
import { InvalidInputError } from "../domain/errors.ts";
import { handleLifecycle } from "../operations/lifecycle.ts";
import type { LifecycleReport } from "../operations/report.ts";
import { invocationLogger } from "../runtime/log.ts";
import { lifecycleDeps, wiring, type Wiring } from "../runtime/wiring.ts";

export function lifecycleHandler(w: () => Wiring) {
  return async (event: unknown, context?: { awsRequestId?: string }): Promise<LifecycleReport> => {
    const log = invocationLogger("lifecycle", context?.awsRequestId ?? randomUUID());
    try {
      return await handleLifecycle(event, lifecycleDeps(w()), log);
    } catch (e) {
      if (e instanceof InvalidInputError) log.error("rejected event", { error: e.message, issues: e.issues });
      throw e;
    }
  };
}

/** The Lambda entry point. */
export const handler = lifecycleHandler(wiring);
