// The EventBridge events Auto Scaling sends when an instance enters a lifecycle wait state
// ("EC2 Instance-launch Lifecycle Action" / "EC2 Instance-terminate Lifecycle Action"), as documented
// in the Amazon EC2 Auto Scaling event reference. Fixtures: test/fixtures/events/.
import { z } from "zod";
import { parseInput } from "./input.ts";

export const LAUNCH_DETAIL_TYPE = "EC2 Instance-launch Lifecycle Action";
export const TERMINATE_DETAIL_TYPE = "EC2 Instance-terminate Lifecycle Action";

const Detail = z.object({
  LifecycleActionToken: z.string().min(1).optional(),
  AutoScalingGroupName: z.string().min(1).max(1600),
  LifecycleHookName: z.string().min(1).max(255),
  EC2InstanceId: z.string().regex(/^i-[0-9a-f]{8,17}$/, "an EC2 instance id"),
  LifecycleTransition: z.enum(["autoscaling:EC2_INSTANCE_LAUNCHING", "autoscaling:EC2_INSTANCE_TERMINATING"]),
  NotificationMetadata: z.string().optional(),
  // Present on current events (warm pools): EC2 | AutoScalingGroup | WarmPool.
  Origin: z.string().optional(),
  Destination: z.string().optional(),
});

export const LifecycleEventSchema = z
  .object({
    version: z.string().optional(),
    id: z.string().optional(),
    "detail-type": z.enum([LAUNCH_DETAIL_TYPE, TERMINATE_DETAIL_TYPE]),
    source: z.literal("aws.autoscaling"),
    account: z.string().optional(),
    time: z.string().optional(),
    region: z.string().optional(),
    resources: z.array(z.string()).optional(),
    detail: Detail,
  })
  .superRefine((e, ctx) => {
    const launch = e["detail-type"] === LAUNCH_DETAIL_TYPE;
    const transitionLaunch = e.detail.LifecycleTransition === "autoscaling:EC2_INSTANCE_LAUNCHING";
    if (launch !== transitionLaunch) {
      ctx.addIssue({
        code: "custom",
        path: ["detail", "LifecycleTransition"],
        message: "does not match detail-type",
      });
    }
  });

/** The event as handlers use it. */
export interface LifecycleEvent {
  kind: "launch" | "terminate";
  instanceId: string;
  groupName: string;
  hookName: string;
  token?: string | undefined;
  /** Instances moving into or out of a warm pool are not joining or leaving the cluster. */
  warmPool: boolean;
  eventId?: string | undefined;
  time?: string | undefined;
}

export function parseLifecycleEvent(input: unknown): LifecycleEvent {
  const e = parseInput(LifecycleEventSchema, input, "not an Auto Scaling lifecycle action event");
  return {
    kind: e["detail-type"] === LAUNCH_DETAIL_TYPE ? "launch" : "terminate",
    instanceId: e.detail.EC2InstanceId,
    groupName: e.detail.AutoScalingGroupName,
    hookName: e.detail.LifecycleHookName,
    token: e.detail.LifecycleActionToken,
    warmPool: e.detail.Origin === "WarmPool" || e.detail.Destination === "WarmPool",
    eventId: e.id,
    time: e.time,
  };
}
