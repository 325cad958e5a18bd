// `lifecycle`: the Auto Scaling lifecycle actions of all three groups (EventBridge "EC2 Instance-launch
// Lifecycle Action" / "EC2 Instance-terminate Lifecycle Action"); operations/lifecycle.ts does the work.
import { handleLifecycle } from "../operations/lifecycle.ts";
import { lambdaHandler } from "../runtime/handler.ts";
import { lifecycleDeps, wiring, type Wiring } from "../runtime/wiring.ts";

export const lifecycleHandler = (w: () => Wiring) =>
  lambdaHandler("lifecycle", (event, log) => handleLifecycle(event, lifecycleDeps(w()), log));

/** The Lambda entry point. */
export const handler = lifecycleHandler(wiring);
