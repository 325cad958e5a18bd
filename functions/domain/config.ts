// The control plane's settings: their schema and validation (runtime/config.ts reads them from the environment).
import { z } from "zod";
import { ConfigError, formatIssues } from "./errors.ts";
import { parseServiceSelection } from "./units/services.ts";

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
  RETAIN_LAST: z.coerce.number().int().min(1).default(24),
  RETAIN_DAYS: z.coerce.number().int().min(0).default(14),
  AUTO_RESTORE: bool,
  /**
   * The members serve TLS with client certificates (etcdEnv.ts): the control plane dials https, hands
   * new members TLS settings, and adds them with https peer URLs. One setting for the whole cluster,
   * since a member's peers must all speak its scheme.
   */
  ETCD_TLS: bool,
  /**
   * Which of the team's services (the catalog's `team/` folder) the cluster runs: "all", "none" (or
   * empty) or names such as `gerrit,phpapp` (domain/units/services.ts). The stack's `services` param.
   */
  SERVICES: z
    .string()
    .default("")
    .transform((v, ctx) => {
      try {
        return parseServiceSelection(v);
      } catch (e) {
        ctx.addIssue({ code: "custom", message: (e as Error).message });
        return z.NEVER;
      }
    }),
  /** Metric namespace for CloudWatch metrics (snapshot age, restore needed). */
  METRIC_NAMESPACE: z.string().default("Devcluster"),
});

export type Config = z.infer<typeof ConfigSchema>;

export function parseConfig(env: Record<string, string | undefined>): Config {
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    const issues = formatIssues(parsed.error.issues);
    throw new ConfigError(`invalid or missing configuration: ${issues.join("; ")}`);
  }
  return parsed.data;
}

export const groupsOf = (cfg: Config) => ({
  main: cfg.GROUP_MAIN,
  worker: cfg.GROUP_WORKER,
  data: cfg.GROUP_DATA,
});
