// LifecycleActions port over Auto Scaling. moto 5.x implements neither call, so this adapter is
// tested against recorded real responses served on loopback (test/integration/lifecycleActions.test.ts).
import {
  CompleteLifecycleActionCommand,
  RecordLifecycleActionHeartbeatCommand,
  type AutoScalingClient,
} from "@aws-sdk/client-auto-scaling";
import type { LifecycleActions } from "../../ports/index.ts";

/**
 * The action is already complete or expired: a retried event must not fail on it. Auto Scaling has no
 * error code of its own for this: it answers the generic `ValidationError`, which only its message
 * tells apart from a malformed request (test/fixtures/autoscaling/no-active-action.error.xml).
 */
const isGone = (e: unknown) =>
  e instanceof Error && e.name === "ValidationError" && /^No active Lifecycle Action found/i.test(e.message);

async function unlessGone(call: Promise<unknown>): Promise<void> {
  try {
    await call;
  } catch (e) {
    if (isGone(e)) return;
    throw e;
  }
}

export function awsLifecycleActions(autoscaling: AutoScalingClient): LifecycleActions {
  return {
    complete: (ref, result) =>
      unlessGone(
        autoscaling.send(
          new CompleteLifecycleActionCommand({
            AutoScalingGroupName: ref.groupName,
            LifecycleHookName: ref.hookName,
            InstanceId: ref.instanceId,
            LifecycleActionToken: ref.token,
            LifecycleActionResult: result,
          }),
        ),
      ),
    heartbeat: (ref) =>
      unlessGone(
        autoscaling.send(
          new RecordLifecycleActionHeartbeatCommand({
            AutoScalingGroupName: ref.groupName,
            LifecycleHookName: ref.hookName,
            InstanceId: ref.instanceId,
            LifecycleActionToken: ref.token,
          }),
        ),
      ),
  };
}
