// What a synthesis may vary, its defaults, and the synth-time rules (bad input fails here, before
// anything is built or written).
import { InvalidInputError } from "../functions/domain/errors.ts";
import { ETCD_CLIENT_PORT, ETCD_HTTP_PORT, ETCD_PEER_PORT } from "../functions/domain/model.ts";

export const FUNCTION_NAMES = [
  "lifecycle",
  "reconcile",
  "snapshot",
  "restore",
  "units",
  "status",
  "restart",
] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

export interface PortRange {
  from: number;
  to: number;
  protocol: "tcp" | "udp";
}

export interface SynthOptions {
  /** Default of the ClusterName parameter (also the `devcluster:cluster` tag and SSM path segment). */
  clusterName: string;
  /** Default of the ClusterDomain parameter: the private hosted zone. Default `<clusterName>.internal`. */
  clusterDomain: string;
  /** The region the stack is meant for; it must have three usable availability zones. */
  region: string;
  /** Default of the MainSize parameter: odd, 3 to 9 (etcd quorum). */
  mainSize: number;
  /** Default of SnapshotIntervalMinutes. */
  snapshotIntervalMinutes: number;
  /** The VPC's block: a private /16, cut into /20 subnets. */
  vpcCidr: string;
  /** NAT for the private (Lambda) subnets: one gateway (cheap) or one per zone (zone-independent). */
  natGateways: "single" | "per-zone";
  /** SSM, SSMMessages and EC2Messages interface endpoints in the private subnets. */
  interfaceEndpoints: boolean;
  /**
   * Functions that exist in the same template (Serverless's `<Name>LambdaFunction`): their
   * EventBridge rules get targets and invoke permissions. Empty for a standalone synth.
   */
  functionsInTemplate: readonly FunctionName[];
  /** Serverless service and stage: functions are named `<service>-<stage>-<function>`. */
  service: string;
  stage: string;
  /** etcd release installed to /opt/bin at first boot. */
  etcdVersion: string;
  /** Ports cluster nodes may open to each other for services (never etcd's, never SSH). */
  servicePorts: PortRange[];
  /** Default of the SSM parameter path naming the Flatcar AMI. */
  flatcarAmiParameter: string;
}

/** Regions with at least three availability zones open to every account. */
export const REGIONS_WITH_THREE_ZONES = [
  "us-east-1",
  "us-east-2",
  "us-west-2",
  "ca-central-1",
  "ca-west-1",
  "sa-east-1",
  "mx-central-1",
  "eu-west-1",
  "eu-west-2",
  "eu-west-3",
  "eu-central-1",
  "eu-central-2",
  "eu-north-1",
  "eu-south-1",
  "eu-south-2",
  "ap-south-1",
  "ap-south-2",
  "ap-southeast-1",
  "ap-southeast-2",
  "ap-southeast-3",
  "ap-southeast-4",
  "ap-southeast-5",
  "ap-southeast-7",
  "ap-northeast-1",
  "ap-northeast-2",
  "ap-northeast-3",
  "ap-east-1",
  "me-south-1",
  "me-central-1",
  "il-central-1",
  "af-south-1",
] as const;
/** Real regions where new accounts get fewer than three zones. */
const REGIONS_WITH_TWO_ZONES = ["us-west-1"];

export const CLUSTER_NAME_PATTERN = "^[a-z][a-z0-9-]{0,30}$";
/** A DNS name: dot-separated labels of letters, digits and inner hyphens, alphabetic TLD. */
export const DNS_NAME_PATTERN = "^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$";

export const DEFAULT_OPTIONS: SynthOptions = {
  clusterName: "dev",
  clusterDomain: "dev.internal",
  region: "eu-west-1",
  mainSize: 3,
  snapshotIntervalMinutes: 30,
  vpcCidr: "10.40.0.0/16",
  natGateways: "single",
  interfaceEndpoints: true,
  functionsInTemplate: [],
  service: "devcluster",
  stage: "dev",
  etcdVersion: "v3.5.21",
  servicePorts: [{ from: 8000, to: 9999, protocol: "tcp" }],
  flatcarAmiParameter: "/devcluster/images/flatcar-stable-amd64",
};

/** Defaults filled in; a cluster name given without a domain gets `<name>.internal`. */
export function resolveOptions(partial: Partial<SynthOptions> = {}): SynthOptions {
  const clusterDomain =
    partial.clusterDomain ??
    (partial.clusterName ? `${partial.clusterName}.internal` : DEFAULT_OPTIONS.clusterDomain);
  return { ...DEFAULT_OPTIONS, ...partial, clusterDomain };
}

const PRIVATE_16 = /^(10\.(\d{1,3})|172\.(1[6-9]|2\d|3[01])|192\.168)\.0\.0\/16$/;
/**
 * A loopback /16 is accepted for the local cluster only: moto takes it, so local instances get
 * addresses that real etcd members bind on this machine. AWS rejects it at deploy.
 */
const LOCAL_16 = /^127\.(\d{1,3})\.0\.0\/16$/;

/** Every rule broken, each naming the option and the rule; throws InvalidInputError if any. */
export function validateOptions(o: SynthOptions): SynthOptions {
  const issues: string[] = [];
  const bad = (name: string, rule: string, got: unknown) =>
    issues.push(`${name}: ${rule} (got ${JSON.stringify(got)})`);

  if (!Number.isInteger(o.mainSize)) bad("mainSize", "must be an integer", o.mainSize);
  else if (o.mainSize < 3)
    bad("mainSize", "must be at least 3 (etcd needs a majority that survives a loss)", o.mainSize);
  else if (o.mainSize > 9)
    bad("mainSize", "must be at most 9 (more members slow every etcd write)", o.mainSize);
  else if (o.mainSize % 2 === 0)
    bad("mainSize", "must be odd (an even member count adds no fault tolerance)", o.mainSize);

  if (!REGIONS_WITH_THREE_ZONES.includes(o.region as (typeof REGIONS_WITH_THREE_ZONES)[number])) {
    if (REGIONS_WITH_TWO_ZONES.includes(o.region))
      bad("region", "must offer three availability zones to every account", o.region);
    else bad("region", "must be a known AWS region", o.region);
  }
  if (!new RegExp(CLUSTER_NAME_PATTERN).test(o.clusterName)) {
    bad(
      "clusterName",
      "must be lower-case letters, digits and '-', starting with a letter, 1-31 chars",
      o.clusterName,
    );
  }
  if (!isDnsName(o.clusterDomain))
    bad(
      "clusterDomain",
      "must be a DNS name (labels of a-z, 0-9, inner '-', dot-separated)",
      o.clusterDomain,
    );
  if (
    !Number.isInteger(o.snapshotIntervalMinutes) ||
    o.snapshotIntervalMinutes < 5 ||
    o.snapshotIntervalMinutes > 720
  ) {
    bad("snapshotIntervalMinutes", "must be an integer from 5 to 720", o.snapshotIntervalMinutes);
  }
  const m = PRIVATE_16.exec(o.vpcCidr) ?? LOCAL_16.exec(o.vpcCidr);
  if (!m || (m[2] !== undefined && Number(m[2]) > 255))
    bad("vpcCidr", "must be a private /16 such as 10.40.0.0/16", o.vpcCidr);
  if (!/^v\d+\.\d+\.\d+$/.test(o.etcdVersion))
    bad("etcdVersion", "must be a release tag like v3.5.21", o.etcdVersion);
  if (!/^[a-zA-Z][a-zA-Z0-9-]*$/.test(o.service))
    bad("service", "must be a Serverless service name", o.service);
  if (!/^[a-zA-Z0-9-]+$/.test(o.stage)) bad("stage", "must be a Serverless stage name", o.stage);
  if (!/^(\/[A-Za-z0-9_.-]+)+$/.test(o.flatcarAmiParameter))
    bad("flatcarAmiParameter", "must be an SSM parameter path", o.flatcarAmiParameter);
  for (const fn of o.functionsInTemplate) {
    if (!FUNCTION_NAMES.includes(fn))
      bad("functionsInTemplate", `must name only ${FUNCTION_NAMES.join(", ")}`, fn);
  }
  o.servicePorts.forEach((p, i) => {
    const name = `servicePorts[${i}]`;
    if (!Number.isInteger(p.from) || !Number.isInteger(p.to) || p.from < 1 || p.to > 65535 || p.from > p.to) {
      bad(name, "must be a port range within 1-65535", p);
    } else {
      for (const reserved of [22, ETCD_CLIENT_PORT, ETCD_PEER_PORT, ETCD_HTTP_PORT]) {
        if (p.from <= reserved && reserved <= p.to)
          bad(name, `must not include port ${reserved} (SSH and etcd stay closed)`, p);
      }
    }
  });
  if (issues.length) throw new InvalidInputError("invalid template options", issues);
  return o;
}

export function isDnsName(name: string): boolean {
  return name.length <= 253 && new RegExp(DNS_NAME_PATTERN).test(name);
}
