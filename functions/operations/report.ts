// What a lifecycle invocation did: returned by the handler, logged, asserted by tests.
import type { LifecycleResult } from "../ports/index.ts";

export interface LifecycleReport {
  kind: "launch" | "terminate";
  instanceId: string;
  role?: string;
  result: LifecycleResult;
  /** What was done, in order (for logs and tests). */
  steps: string[];
  /** What is left for reconcile (terminate with a step that could not be done). */
  leftovers: string[];
  error?: string;
}
