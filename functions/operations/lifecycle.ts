// Lifecycle actions (the `lifecycle` function): answers the Auto Scaling lifecycle actions of all three groups (EventBridge events
// "EC2 Instance-launch Lifecycle Action" / "EC2 Instance-terminate Lifecycle Action").
// Parse, then launch (launch.ts) or terminate (terminate.ts), then complete.
// Every step is idempotent: a duplicate, late or reordered event ends in the state of a clean run.
import { EventRefusedError } from "../domain/errors.ts";
import { parseLifecycleEvent } from "../domain/lifecycleEvent.ts";
import { reportStep } from "../domain/reportCodes.ts";
import type { Logger } from "../ports/log.ts";
import type { LifecycleActionRef, LifecycleResult } from "../ports/index.ts";
import type { LifecycleDeps } from "./deps.ts";
import { withHeartbeat } from "./steps.ts";
import { launch } from "./launch.ts";
import { recordLeftovers, terminate } from "./terminate.ts";
import type { LifecycleReport } from "./report.ts";

export type { LifecycleReport } from "./report.ts";

export async function handleLifecycle(
  event: unknown,
  deps: LifecycleDeps,
  log: Logger,
): Promise<LifecycleReport> {
  const ev = parseLifecycleEvent(event); // InvalidInputError: nothing is changed
  const ref: LifecycleActionRef = {
    groupName: ev.groupName,
    hookName: ev.hookName,
    instanceId: ev.instanceId,
    token: ev.token,
  };
  const l = log.child({ instanceId: ev.instanceId, group: ev.groupName, transition: ev.kind });
  const report: LifecycleReport = {
    kind: ev.kind,
    instanceId: ev.instanceId,
    result: "CONTINUE",
    steps: [],
    leftovers: [],
  };
  if (ev.warmPool) {
    report.steps.push(reportStep("LC_WARM_POOL_SKIPPED"));
    await deps.actions.complete(ref, "CONTINUE");
    return report;
  }
  let result: LifecycleResult = "CONTINUE";
  try {
    await withHeartbeat(deps, ref, l, () =>
      ev.kind === "launch" ? launch(ev, deps, l, report) : terminate(ev, deps, l, report),
    );
  } catch (e) {
    report.error = e instanceof Error ? e.message : String(e);
    if (e instanceof EventRefusedError) {
      // Not this cluster's event (or a forged one): no change, and no completion either: the action
      // it names, if any, is not ours to decide.
      report.result = "REFUSED";
      report.steps.push(reportStep("LC_REFUSED", report.error));
      l.error("lifecycle event refused: nothing changed", { reason: report.error });
      return report;
    }
    if (ev.kind === "launch") {
      // The group replaces a node that cannot be made useful.
      result = "ABANDON";
      l.error("launch failed: abandoning", { error: e });
    } else {
      // A terminating node goes anyway: let it, and leave the rest to reconcile.
      report.leftovers.push(reportStep("LC_FAILED", report.error));
      l.error("terminate step failed: continuing; reconcile repairs the rest", { error: e });
      await recordLeftovers(deps, ev, report).catch(() => {});
    }
  }
  report.result = result;
  await deps.actions.complete(ref, result);
  report.steps.push(reportStep("LC_COMPLETED", result));
  l.info("lifecycle action done", { ...report });
  return report;
}
