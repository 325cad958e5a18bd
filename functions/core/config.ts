// The control plane's settings, read from the environment once and validated.
import { z } from "zod";
import { ConfigError } from "./errors.ts";

const bool = z
  .enum(["true", "false", "1", "0", ""])
  .default("false")
  .transform((v) => v === "true" || v === "1");

const ConfigSchema = z.object({
  CLUSTER_NAME: z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, "lower-case letters, digits and '-', 1-31 chars"),
  /** Name of the private hosted zone (e.g. `dev.internal`). */
  CLUSTER_DOMAIN: z.string().regex(/^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$/, "a DNS name"),
  PRIVATE_ZONE_ID: z.string().min(1),
  SNAPSHOT_BUCKET: z.string().min(3),
  SNAPSHOT_PREFIX: z.string().default("etcd-snapshots/"),
  GROUP_MAIN: z.string().min(1),
  GROUP_WORKER: z.string().min(1),
  GROUP_DATA: z.string().min(1),
  /** Where node commands go: SSM Run Command, or the local runner standing in for the SSM agent. */
  COMMANDS: z.enum(["ssm", "local"]).default("ssm"),
  /**
   * Who answers lifecycle actions: Auto Scaling, or the local cluster's stand-in (moto has none).
   */
  LIFECYCLE_ACTIONS: z.enum(["autoscaling", "local"]).default("autoscaling"),
  /** Local nodes run container units with rootful podman (`podman`) or only mark them active (`none`). */
  LOCAL_CONTAINERS: z.enum(["podman", "none"]).default("none"),
  /** The local cluster's state directory (node directories live under it); only for COMMANDS=local. */
  LOCAL_ROOT: z.string().optional(),
  RETAIN_LAST: z.coerce.number().int().min(1).default(24),
  RETAIN_DAYS: z.coerce.number().int().min(0).default(14),
  AUTO_RESTORE: bool,
  /** Metric namespace for CloudWatch metrics (snapshot age, restore needed). */
  METRIC_NAMESPACE: z.string().default("Devcluster"),
});

export type Config = z.infer<typeof ConfigSchema>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`invalid or missing configuration: ${issues.join("; ")}`);
  }
  const cfg = parsed.data;
  if ((cfg.COMMANDS === "local" || cfg.LIFECYCLE_ACTIONS === "local") && !cfg.LOCAL_ROOT) {
    throw new ConfigError("invalid or missing configuration: LOCAL_ROOT is required in local mode");
  }
  return cfg;
}

export const groupsOf = (cfg: Config) => ({ main: cfg.GROUP_MAIN, worker: cfg.GROUP_WORKER, data: cfg.GROUP_DATA });
