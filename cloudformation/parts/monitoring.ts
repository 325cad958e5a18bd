// Alarms on what the functions report: no successful snapshot for twice the interval, and a
// restore found necessary (total loss of the main nodes).
import { ifCond, noValue, ref, type TemplateBuilder } from "../cfn.ts";
import { Conditions, Ids, METRICS, Params } from "../ids.ts";

/**
 * CloudFormation has no arithmetic, so "sum < 1 over 2x the interval" is N periods of 2 minutes
 * (N = the interval in minutes), all of which must breach; missing data breaches.
 */
export const SNAPSHOT_ALARM_PERIOD_SECONDS = 120;

export function addMonitoring(t: TemplateBuilder): void {
  const actions = ifCond(Conditions.hasAlarmTopic, [ref(Params.alarmTopic)], noValue);
  const dimensions = [{ Name: "Cluster", Value: ref(Params.clusterName) }];
  t.resource(Ids.snapshotAlarm, {
    Type: "AWS::CloudWatch::Alarm",
    Properties: {
      AlarmDescription: "No etcd snapshot succeeded for twice the snapshot interval",
      Namespace: METRICS.namespace,
      MetricName: METRICS.snapshotSucceeded,
      Dimensions: dimensions,
      Statistic: "Sum",
      Period: SNAPSHOT_ALARM_PERIOD_SECONDS,
      EvaluationPeriods: ref(Params.snapshotInterval),
      Threshold: 1,
      ComparisonOperator: "LessThanThreshold",
      TreatMissingData: "breaching",
      AlarmActions: actions,
      OKActions: actions,
    },
  });
  t.resource(Ids.restoreAlarm, {
    Type: "AWS::CloudWatch::Alarm",
    Properties: {
      AlarmDescription: "The control plane found the etcd cluster lost: a restore is needed",
      Namespace: METRICS.namespace,
      MetricName: METRICS.restoreNeeded,
      Dimensions: dimensions,
      Statistic: "Maximum",
      Period: 300,
      EvaluationPeriods: 1,
      Threshold: 1,
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
      TreatMissingData: "notBreaching",
      AlarmActions: actions,
    },
  });
}
