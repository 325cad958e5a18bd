// EventBridge: lifecycle actions of the three groups go to `lifecycle`; schedules drive
// `reconcile` (every 5 minutes) and `snapshot` (every SnapshotIntervalMinutes).
// A rule targets a function only when the function is in the same template (Serverless's
// `<Name>LambdaFunction`); a standalone synth keeps the rules, without targets or permissions, so
// the routing is deployed and visible and the functions attach when they arrive.
import { getAtt, ref, sub, type CfnValue, type TemplateBuilder } from "../cfn.ts";
import { Ids, Params } from "../ids.ts";
import type { FunctionName, SynthOptions } from "../options.ts";
import { ROLES } from "../../functions/domain/model.ts";

export const LIFECYCLE_DETAIL_TYPES = [
  "EC2 Instance-launch Lifecycle Action",
  "EC2 Instance-terminate Lifecycle Action",
];
export const RECONCILE_SCHEDULE = "rate(5 minutes)";

export function addEvents(t: TemplateBuilder, o: SynthOptions): void {
  const rule = (id: string, fn: FunctionName, description: string, trigger: Record<string, CfnValue>) => {
    const present = o.functionsInTemplate.includes(fn);
    t.resource(id, {
      Type: "AWS::Events::Rule",
      Properties: {
        Description: sub(`devcluster \${${Params.clusterName}}: ${description}`),
        State: "ENABLED",
        ...trigger,
        ...(present
          ? {
              Targets: [
                {
                  Id: fn,
                  Arn: getAtt(Ids.lambdaFunction(fn), "Arn"),
                  // Lost events are repaired by reconcile; an hour covers a throttled burst.
                  RetryPolicy: { MaximumRetryAttempts: 20, MaximumEventAgeInSeconds: 3600 },
                },
              ],
            }
          : {}),
      },
    });
    if (present) {
      t.resource(`${id}InvokePermission`, {
        Type: "AWS::Lambda::Permission",
        Properties: {
          FunctionName: getAtt(Ids.lambdaFunction(fn), "Arn"),
          Action: "lambda:InvokeFunction",
          Principal: "events.amazonaws.com",
          SourceArn: getAtt(id, "Arn"),
        },
      });
    }
  };

  rule(Ids.lifecycleRule, "lifecycle", "lifecycle actions of the cluster's groups", {
    EventPattern: {
      source: ["aws.autoscaling"],
      "detail-type": LIFECYCLE_DETAIL_TYPES,
      detail: { AutoScalingGroupName: ROLES.map((r) => ref(Ids.group(r))) },
    },
  });
  rule(Ids.reconcileRule, "reconcile", "repair drift", { ScheduleExpression: RECONCILE_SCHEDULE });
  rule(Ids.snapshotRule, "snapshot", "etcd snapshot to S3", {
    ScheduleExpression: sub(`rate(\${${Params.snapshotInterval}} minutes)`),
  });
}
