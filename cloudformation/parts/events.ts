// EventBridge: lifecycle actions of the three groups go to `lifecycle`; schedules drive
// `reconcile` (every 5 minutes, and its promotion check every minute) and `snapshot` (every
// SnapshotIntervalMinutes).
// A rule targets a function only when the function is in the same template (Serverless's
// `<Name>LambdaFunction`); a standalone synth keeps the rules, without targets or permissions, so
// the routing is deployed and visible and the functions attach when they arrive.
import { VOLUME_SNAPSHOT_SCHEDULE } from "../../functions/domain/volumeSnapshots.ts";
import { getAtt, ref, sub, type CfnValue, type TemplateBuilder } from "../cfn.ts";
import { Ids, Params } from "../ids.ts";
import type { FunctionName, SynthOptions } from "../options.ts";
import { ROLES } from "../../functions/domain/model.ts";

export const LIFECYCLE_DETAIL_TYPES = [
  "EC2 Instance-launch Lifecycle Action",
  "EC2 Instance-terminate Lifecycle Action",
];
export const RECONCILE_SCHEDULE = "rate(5 minutes)";
/**
 * A main node left a learner (it had not caught up within its launch handler's budget) is a cluster
 * that tolerates one failure fewer: a one-minute check promotes it rather than the 5-minute reconcile.
 */
export const PROMOTE_SCHEDULE = "rate(1 minute)";
/** The input of the promotion check's invocations of `reconcile` (functions/handlers/reconcile.ts). */
export const PROMOTE_INPUT = { mode: "promote" } as const;

/** The input of the daily volume snapshot's invocations of `units` (operations/volumeSnapshots.ts). */
export const VOLUME_SNAPSHOT_INPUT = { volume: { action: "snapshot" } } as const;

export function addEvents(t: TemplateBuilder, o: SynthOptions): void {
  const rule = (
    id: string,
    fn: FunctionName,
    description: string,
    trigger: Record<string, CfnValue>,
    input?: unknown,
    deadLetters?: string,
  ) => {
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
                  ...(input === undefined ? {} : { Input: JSON.stringify(input) }),
                  // Lost events are repaired by reconcile; an hour covers a throttled burst.
                  RetryPolicy: { MaximumRetryAttempts: 20, MaximumEventAgeInSeconds: 3600 },
                  ...(deadLetters ? { DeadLetterConfig: { Arn: getAtt(deadLetters, "Arn") } } : {}),
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

  if (o.functionsInTemplate.includes("lifecycle")) addLifecycleDeadLetters(t);
  rule(
    Ids.lifecycleRule,
    "lifecycle",
    "lifecycle actions of the cluster's groups",
    {
      EventPattern: {
        source: ["aws.autoscaling"],
        "detail-type": LIFECYCLE_DETAIL_TYPES,
        detail: { AutoScalingGroupName: ROLES.map((r) => ref(Ids.group(r))) },
      },
    },
    undefined,
    o.functionsInTemplate.includes("lifecycle") ? Ids.lifecycleDeadLetters : undefined,
  );
  rule(Ids.reconcileRule, "reconcile", "repair drift", { ScheduleExpression: RECONCILE_SCHEDULE });
  rule(
    Ids.promoteRule,
    "reconcile",
    "promote caught-up etcd learners",
    { ScheduleExpression: PROMOTE_SCHEDULE },
    PROMOTE_INPUT,
  );
  rule(Ids.snapshotRule, "snapshot", "etcd snapshot to S3", {
    ScheduleExpression: sub(`rate(\${${Params.snapshotInterval}} minutes)`),
  });
  rule(
    Ids.volumeSnapshotRule,
    "units",
    "snapshots of the service volumes, with retention",
    { ScheduleExpression: VOLUME_SNAPSHOT_SCHEDULE },
    VOLUME_SNAPSHOT_INPUT,
  );
}

/**
 * Lifecycle events EventBridge could not deliver after its retries land here (kept 14 days) instead
 * of vanishing: the hook's default result and reconcile repair the node, and the queue says which
 * event was lost. Encrypted with SQS's own key; only the lifecycle rule may send to it.
 */
function addLifecycleDeadLetters(t: TemplateBuilder): void {
  t.resource(Ids.lifecycleDeadLetters, {
    Type: "AWS::SQS::Queue",
    // Diagnostics, not data: removing the stack removes them.
    DeletionPolicy: "Delete",
    UpdateReplacePolicy: "Delete",
    Properties: { MessageRetentionPeriod: 14 * 24 * 3600, SqsManagedSseEnabled: true },
  });
  t.resource(Ids.lifecycleDeadLettersPolicy, {
    Type: "AWS::SQS::QueuePolicy",
    Properties: {
      Queues: [ref(Ids.lifecycleDeadLetters)],
      PolicyDocument: {
        Version: "2012-10-17",
        Statement: [
          {
            Effect: "Allow",
            Principal: { Service: "events.amazonaws.com" },
            Action: "sqs:SendMessage",
            Resource: getAtt(Ids.lifecycleDeadLetters, "Arn"),
            Condition: { ArnEquals: { "aws:SourceArn": getAtt(Ids.lifecycleRule, "Arn") } },
          },
        ],
      },
    },
  });
}
