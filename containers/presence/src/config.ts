// presence's settings: which instance it announces (from the bound unit), its ports and health check.
import { z } from "zod";
import { ConfigError, formatIssues } from "../../../functions/domain/errors.ts";
import { parseUnitName } from "../../../functions/domain/units/names.ts";
import { PresenceRecordSchema, parsePorts, type PresenceRecord } from "../../../functions/domain/presence.ts";
import { bool, etcdEndpoints, int, loadEnv } from "../../shared/config.ts";
import { parseHealthCheck, type HealthCheck } from "../../shared/health.ts";

const portList = (what: string) =>
  z.string({ error: `required: ${what}` }).transform((v, ctx) => {
    try {
      return parsePorts(v);
    } catch (e) {
      ctx.addIssue({ code: "custom", message: (e as Error).message });
      return z.NEVER;
    }
  });

const Env = z.object({
  ETCD_ENDPOINTS: etcdEndpoints,
  NODE_ID: z.string().default(""),
  PRIVATE_IP: z.string({ error: "required: the node's private address" }),
  PUBLIC_IP: z.string().default(""),
  UNIT: z.string().optional(),
  SERVICE: z.string().optional(),
  INSTANCE: z.string().optional(),
  PORTS: portList("name:port,..."),
  HTTP_PORT_NAME: z.string().optional(),
  STREAMS: portList("portName:frontDoorPort,...").optional(),
  HEALTH_CHECK: z.string().optional(),
  HEALTH_HOST: z.string().optional(),
  HEALTH_INTERVAL_MS: int(100, 60_000, 2000),
  HEALTH_TIMEOUT_MS: int(50, 30_000, 1000),
  LEASE_TTL: int(2, 300, 6),
  ELECTION: bool,
  ACCESS_PUBLIC: bool,
  ACCESS_GROUPS: z
    .string()
    .transform((v) => v.split(/[,\s]+/).filter(Boolean))
    .optional(),
});

export interface PresenceConfig {
  etcdEndpoints: string[];
  /** The record announced (its `updatedAt` is set at each announcement). */
  record: PresenceRecord;
  check: HealthCheck;
  intervalMs: number;
  timeoutMs: number;
  leaseTtl: number;
  election: boolean;
}

export function loadPresenceConfig(env: NodeJS.ProcessEnv = process.env): PresenceConfig {
  const e = loadEnv(Env, env);
  const issues: string[] = [];
  const unit = e.UNIT ? parseUnitName(e.UNIT.endsWith(".service") ? e.UNIT : `${e.UNIT}.service`) : undefined;
  if (e.UNIT && !unit) issues.push(`UNIT: '${e.UNIT}' is not a unit name`);
  const service = e.SERVICE ?? unit?.prefix;
  const instance = e.INSTANCE ?? (unit?.instance || e.NODE_ID || undefined);
  if (!service) issues.push("SERVICE: required (or UNIT)");
  if (!instance) issues.push("INSTANCE: required (or UNIT naming an instance, or NODE_ID)");
  const ports = e.PORTS;
  const names = Object.keys(ports);
  const streams = e.STREAMS;
  // Only when asked: the front door's own port named http must not become a virtual host of itself.
  const http = e.HTTP_PORT_NAME;
  let check: HealthCheck = { kind: "none" };
  if (names.length) {
    try {
      check = parseHealthCheck(e.HEALTH_CHECK ?? `tcp:${names[0]}`, ports, e.HEALTH_HOST ?? e.PRIVATE_IP);
    } catch (err) {
      issues.push(`HEALTH_CHECK: ${(err as Error).message}`);
    }
  }
  if (e.LEASE_TTL * 1000 < 2 * e.HEALTH_INTERVAL_MS)
    issues.push("LEASE_TTL: must cover two HEALTH_INTERVAL_MS (a keep-alive is sent once per check)");
  if (issues.length) throw new ConfigError(`invalid or missing configuration: ${issues.join("; ")}`);
  const candidate = {
    service,
    instance,
    node: e.NODE_ID,
    privateIp: e.PRIVATE_IP,
    publicIp: e.PUBLIC_IP,
    port: ports[names[0]!],
    ports,
    ...(http !== undefined ? { http } : {}),
    ...(streams ? { streams } : {}),
    ...(e.ACCESS_PUBLIC ? { public: true } : {}),
    ...(e.ACCESS_GROUPS?.length ? { groups: e.ACCESS_GROUPS } : {}),
  };
  const r = PresenceRecordSchema.safeParse(candidate);
  if (!r.success) {
    throw new ConfigError(`invalid or missing configuration: ${formatIssues(r.error.issues).join("; ")}`);
  }
  return {
    etcdEndpoints: e.ETCD_ENDPOINTS,
    record: r.data,
    check,
    intervalMs: e.HEALTH_INTERVAL_MS,
    timeoutMs: e.HEALTH_TIMEOUT_MS,
    leaseTtl: e.LEASE_TTL,
    election: e.ELECTION,
  };
}
