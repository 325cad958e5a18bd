// LifecycleActions port over Auto Scaling. moto 5.x implements neither call, so this adapter is
// tested against recorded real responses served on loopback (test/integration/lifecycleActions.test.ts).
import {
  CompleteLifecycleActionCommand,
  RecordLifecycleActionHeartbeatCommand,
  type AutoScalingClient,
} from "@aws-sdk/client-auto-scaling";
import type { LifecycleActions } from "../../ports/index.ts";

/** The action is already complete or expired: a retried event must not fail on it. */
const GONE = /No active Lifecycle Action found/i;

async function unlessGone(call: Promise<unknown>): Promise<void> {
  try {
    await call;
  } catch (e) {
    if (e instanceof Error && GONE.test(e.message)) return;
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
