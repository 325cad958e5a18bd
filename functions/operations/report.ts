// What a lifecycle invocation did: returned by the handler, logged, asserted by tests.
import type { LifecycleStepCode, ReportStep } from "../domain/reportCodes.ts";
import type { LifecycleResult } from "../ports/index.ts";

export interface LifecycleReport {
  kind: "launch" | "terminate";
  instanceId: string;
  role?: string;
  /** REFUSED: the event did not match the cluster; nothing changed and the action was not completed. */
  result: LifecycleResult | "REFUSED";
  /** What was done, in order (codes in domain/reportCodes.ts). */
  steps: ReportStep<LifecycleStepCode>[];
  /** What is left for reconcile (terminate with a step that could not be done). */
  leftovers: ReportStep<LifecycleStepCode>[];
  error?: string;
}
