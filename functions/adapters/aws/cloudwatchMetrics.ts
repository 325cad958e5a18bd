// Metrics port over CloudWatch PutMetricData: one dimension, Cluster.
import { PutMetricDataCommand, type CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import type { Metrics } from "../../ports/snapshots.ts";

export function cloudwatchMetrics(cw: CloudWatchClient, namespace: string, cluster: string): Metrics {
  return {
    async put(name, value, unit = "Count") {
      await cw.send(
        new PutMetricDataCommand({
          Namespace: namespace,
          MetricData: [
            { MetricName: name, Value: value, Unit: unit, Dimensions: [{ Name: "Cluster", Value: cluster }] },
          ],
        }),
      );
    },
  };
}
