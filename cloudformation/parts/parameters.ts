// Stack parameters: deploy-time knobs with defaults from the synth options and CloudFormation's own
// validation (patterns, allowed values), so a bad value fails before any resource changes.
import { and, equals, not, ref, type TemplateBuilder } from "../cfn.ts";
import { Conditions, Params } from "../ids.ts";
import { CLUSTER_NAME_PATTERN, DNS_NAME_PATTERN, type SynthOptions } from "../options.ts";
import { ROLES, type Role } from "../../functions/domain/model.ts";

const INSTANCE_TYPES: Record<Role, string> = { main: "t3.small", worker: "t3.medium", data: "t3.large" };
/** Main group sizes CloudFormation accepts, and each one's MaxSize (one spare slot for rolling updates). */
export const MAIN_SIZES = [3, 5, 7, 9] as const;

export function addParameters(t: TemplateBuilder, o: SynthOptions): void {
  t.parameter(Params.clusterName, {
    Type: "String",
    Description: "Cluster name: tags, SSM parameter path /devcluster/<name>/, resource names",
    Default: o.clusterName,
    AllowedPattern: CLUSTER_NAME_PATTERN,
    ConstraintDescription: "lower-case letters, digits and '-', starting with a letter, 1-31 characters",
  });
  t.parameter(Params.clusterDomain, {
    Type: "String",
    Description: "Private hosted zone name for node and etcd discovery records (e.g. dev.internal)",
    Default: o.clusterDomain,
    AllowedPattern: DNS_NAME_PATTERN,
    MaxLength: 253,
    ConstraintDescription: "a DNS name: dot-separated labels of a-z, 0-9 and inner '-'",
  });
  t.parameter(Params.fileDropSender, {
    Type: "String",
    Description: "Sender of the file drop's emailed links: an address or domain verified in SES",
    Default: `filedrop@${o.clusterDomain}`,
    AllowedPattern: "^[^@\\s]+@[a-z0-9.-]+$",
    MaxLength: 254,
    ConstraintDescription: "an email address",
  });
  t.parameter(Params.gitSshCidr, {
    Type: "String",
    Description:
      "Who may reach Gerrit's git over SSH on the front door's TCP port 29418 (key-only logins with keys users register while signed in)",
    Default: "0.0.0.0/0",
    AllowedPattern: "^(\\d{1,3}\\.){3}\\d{1,3}/\\d{1,2}$",
    ConstraintDescription: "an IPv4 CIDR such as 203.0.113.0/24",
  });
  t.parameter(Params.sftpCidr, {
    Type: "String",
    Description:
      "Who may reach the SFTP service on the front door's TCP port 2022 (key-only logins of the SSH-key service's accounts)",
    Default: "0.0.0.0/0",
    AllowedPattern: "^(\\d{1,3}\\.){3}\\d{1,3}/\\d{1,2}$",
    ConstraintDescription: "an IPv4 CIDR such as 203.0.113.0/24",
  });
  t.parameter(Params.buildbotWorkerCidr, {
    Type: "String",
    Description:
      "Who may reach the Buildbot master's worker port on the front door's TCP port 9989 (the team's build VMs; each worker logs in with its password from SSM)",
    Default: "0.0.0.0/0",
    AllowedPattern: "^(\\d{1,3}\\.){3}\\d{1,3}/\\d{1,2}$",
    ConstraintDescription: "an IPv4 CIDR such as 203.0.113.0/24",
  });
  t.parameter(Params.flatcarAmi, {
    // An SSM parameter resolved at every deploy: new launch template versions pick up a newer AMI.
    Type: "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
    Description:
      "SSM parameter holding the current Flatcar Container Linux stable AMI id (see docs/CLOUDFORMATION.md)",
    Default: o.flatcarAmiParameter,
  });
  for (const role of ROLES) {
    t.parameter(Params.instanceType(role), {
      Type: "String",
      Description: `EC2 instance type of ${role} nodes`,
      Default: INSTANCE_TYPES[role],
      AllowedPattern: "^[a-z][a-z0-9-]*\\.[a-z0-9]+$",
      ConstraintDescription: "an EC2 instance type such as t3.medium",
    });
  }
  t.parameter(Params.mainSize, {
    Type: "Number",
    Description: "Number of main nodes (etcd members): odd, 3 to 9",
    Default: o.mainSize,
    AllowedValues: [...MAIN_SIZES],
  });
  t.parameter(Params.workerMin, {
    Type: "Number",
    Description: "Worker group minimum size",
    Default: 0,
    MinValue: 0,
    MaxValue: 100,
  });
  t.parameter(Params.workerMax, {
    Type: "Number",
    Description: "Worker group maximum size",
    Default: 6,
    MinValue: 0,
    MaxValue: 100,
  });
  t.parameter(Params.workerDesired, {
    Type: "Number",
    Description: "Worker group desired size (between min and max)",
    Default: 2,
    MinValue: 0,
    MaxValue: 100,
  });
  t.parameter(Params.dataSize, {
    Type: "Number",
    Description: "Data group size (set by hand)",
    Default: 1,
    MinValue: 0,
    MaxValue: 20,
  });
  t.parameter(Params.snapshotInterval, {
    Type: "Number",
    Description: "Minutes between etcd snapshots",
    Default: o.snapshotIntervalMinutes,
    // 5 keeps `rate(N minutes)` plural; 720 keeps the alarm's 2x window within CloudWatch's one day.
    MinValue: 5,
    MaxValue: 720,
  });
  // Settings only a function reads (its environment): declared when that function is in the
  // template, so a standalone template carries no parameter nothing uses.
  if (o.functionsInTemplate.includes("snapshot")) {
    t.parameter(Params.retainLast, {
      Type: "Number",
      Description: "Snapshots always kept (newest N)",
      Default: 24,
      MinValue: 1,
      MaxValue: 1000,
    });
    t.parameter(Params.retainDays, {
      Type: "Number",
      Description: "Days for which one daily snapshot is kept",
      Default: 14,
      MinValue: 0,
      MaxValue: 3650,
    });
  }
  if (o.functionsInTemplate.includes("reconcile")) {
    t.parameter(Params.autoRestore, {
      Type: "String",
      Description: "Let reconcile start a restore by itself after total loss of the main nodes",
      Default: "false",
      AllowedValues: ["true", "false"],
    });
  }
  if (o.functionsInTemplate.some((f) => f === "units" || f === "lifecycle" || f === "reconcile")) {
    // The team's services (the catalog's team/ folder) the cluster runs; the unit syncs read it.
    t.parameter(Params.services, {
      Type: "String",
      Description: 'Team services to run: "all", "none", or names such as gerrit,phpapp',
      Default: "all",
      AllowedPattern: "^(all|none|[a-z][a-z0-9-]{0,62}(,[a-z][a-z0-9-]{0,62})*)?$",
      MaxLength: 1024,
    });
  }
  // etcd's transport, for the members, the control plane and every node's etcd-amb (decision 63).
  t.parameter(Params.etcdTls, {
    Type: "String",
    Description:
      "etcd with TLS and client certificates on client and peer traffic, and its roles enforced (the default); false: plain http without authentication. Chosen when the cluster is created",
    Default: "true",
    AllowedValues: ["true", "false"],
  });
  t.parameter(Params.alarmTopic, {
    Type: "String",
    Description: "SNS topic ARN the alarms notify (empty: alarms without actions)",
    Default: "",
    AllowedPattern: "^(arn:aws[a-z-]*:sns:[a-z0-9-]+:\\d{12}:[A-Za-z0-9_-]+)?$",
  });
  t.parameter(Params.publicZoneId, {
    Type: "String",
    Description: "Public hosted zone id for the front door record (empty: no public record)",
    Default: "",
    AllowedPattern: "^(Z[A-Z0-9]{1,31})?$",
  });
  t.parameter(Params.frontDoorDnsName, {
    Type: "String",
    Description: "Front door DNS name in the public zone, e.g. www.example.com (empty: no public record)",
    Default: "",
    AllowedPattern: `^(${DNS_NAME_PATTERN.slice(1, -1)})?$`,
    MaxLength: 253,
  });
  t.condition(Conditions.hasAlarmTopic, not(equals(ref(Params.alarmTopic), "")));
  t.condition(
    Conditions.hasFrontDoorRecord,
    and(not(equals(ref(Params.publicZoneId), "")), not(equals(ref(Params.frontDoorDnsName), ""))),
  );
}
