// Lifecycle action events exactly as EventBridge delivers them from Auto Scaling (the documented shape
// in test/fixtures/events/), for the local cluster to drive the real lifecycle handler.
import { randomUUID } from "node:crypto";
import { LAUNCH_DETAIL_TYPE, TERMINATE_DETAIL_TYPE } from "../../functions/domain/lifecycleEvent.ts";

export function lifecycleEvent(opts: {
  kind: "launch" | "terminate";
  groupName: string;
  hookName: string;
  instanceId: string;
  region: string;
  account?: string;
}) {
  const launch = opts.kind === "launch";
  const account = opts.account ?? "123456789012";
  return {
    version: "0",
    id: randomUUID(),
    "detail-type": launch ? LAUNCH_DETAIL_TYPE : TERMINATE_DETAIL_TYPE,
    source: "aws.autoscaling",
    account,
    time: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
    region: opts.region,
    resources: [
      `arn:aws:autoscaling:${opts.region}:${account}:autoScalingGroup:${randomUUID()}:autoScalingGroupName/${opts.groupName}`,
    ],
    detail: {
      LifecycleActionToken: randomUUID(),
      AutoScalingGroupName: opts.groupName,
      LifecycleHookName: opts.hookName,
      EC2InstanceId: opts.instanceId,
      LifecycleTransition: launch
        ? "autoscaling:EC2_INSTANCE_LAUNCHING"
        : "autoscaling:EC2_INSTANCE_TERMINATING",
      Origin: launch ? "EC2" : "AutoScalingGroup",
      Destination: launch ? "AutoScalingGroup" : "EC2",
    },
  };
}
