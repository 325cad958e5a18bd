// IAM: the node role, and one role per function holding exactly the actions that function calls,
// each scoped to the cluster's own resources. `Resource: "*"` appears only for actions AWS does not
// scope by resource (Describe*/List*, GetCommandInvocation, PutMetricData, which is then pinned to
// the namespace by condition); no statement allows an `*` action.
import { arn, getAtt, ifCond, noValue, ref, sub, type CfnValue, type TemplateBuilder } from "../cfn.ts";
import { Conditions, Ids, METRICS, Params } from "../ids.ts";
import type { FunctionName, SynthOptions } from "../options.ts";
import { CLUSTER_TAG, ROLES } from "../../functions/domain/model.ts";
import { repositoryArns } from "./images.ts";

// A type alias (not an interface) so a statement is assignable to CfnValue.
export type Statement = {
  Effect: "Allow";
  Action: string[];
  Resource: CfnValue | CfnValue[];
  Condition?: Record<string, Record<string, CfnValue>>;
};

/** Actions that only accept `Resource: "*"` (no resource-level permissions in IAM). */
export const UNSCOPABLE_ACTIONS = new Set([
  "autoscaling:DescribeAutoScalingGroups",
  "autoscaling:DescribeAutoScalingInstances",
  "autoscaling:DescribeLifecycleHooks",
  "ec2:DescribeInstances",
  "ec2:DescribeNetworkInterfaces",
  "ec2:DescribeSubnets",
  "ssm:GetCommandInvocation",
  "ssm:ListCommandInvocations",
  "cloudwatch:PutMetricData",
  "ecr:GetAuthorizationToken",
]);

const allow = (
  Action: string[],
  Resource: CfnValue | CfnValue[],
  cond?: Statement["Condition"],
): Statement =>
  cond ? { Effect: "Allow", Action, Resource, Condition: cond } : { Effect: "Allow", Action, Resource };

const clusterName = ref(Params.clusterName);
const groupArn = (role: (typeof ROLES)[number]) =>
  sub(
    `arn:\${AWS::Partition}:autoscaling:\${AWS::Region}:\${AWS::AccountId}:autoScalingGroup:*:autoScalingGroupName/\${${Ids.group(role)}}`,
  );
const bucketArn = getAtt(Ids.snapshotBucket, "Arn");
const bucketObjects = (prefix = "") => sub(`\${${Ids.snapshotBucket}.Arn}/${prefix}*`);
const clusterParameters = sub(
  `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter/devcluster/\${${Params.clusterName}}/*`,
);

/** Building blocks: each names one capability of a function. */
const Capabilities = {
  observeGroups: [
    allow(
      [
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:DescribeAutoScalingInstances",
        "autoscaling:DescribeLifecycleHooks",
        "ec2:DescribeInstances",
      ],
      "*",
    ),
  ],
  completeLifecycleActions: [
    allow(
      ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"],
      ROLES.map(groupArn),
    ),
  ],
  writePrivateDns: [
    allow(
      ["route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets"],
      sub(`arn:\${AWS::Partition}:route53:::hostedzone/\${${Ids.privateZone}}`),
    ),
    allow(["route53:GetChange"], sub("arn:${AWS::Partition}:route53:::change/*")),
  ],
  runNodeCommands: [
    allow(["ssm:SendCommand"], arn("ssm", "document/AWS-RunShellScript", { account: false })),
    // Only the cluster's own instances: the group tag propagates to them at launch.
    allow(["ssm:SendCommand"], arn("ec2", "instance/*"), {
      StringEquals: { [`ssm:resourceTag/${CLUSTER_TAG}`]: clusterName },
    }),
    allow(["ssm:GetCommandInvocation", "ssm:ListCommandInvocations"], "*"),
  ],
  readClusterParameters: [allow(["ssm:GetParameter", "ssm:GetParameters"], clusterParameters)],
  putMetrics: [
    allow(["cloudwatch:PutMetricData"], "*", { StringEquals: { "cloudwatch:namespace": METRICS.namespace } }),
  ],
  writeSnapshots: [
    allow(["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload"], bucketObjects()),
    allow(["s3:ListBucket"], bucketArn),
  ],
  readSnapshots: [allow(["s3:GetObject"], bucketObjects()), allow(["s3:ListBucket"], bucketArn)],
  // The restore lock is an object under `<prefix><cluster>/locks/` (functions/adapters/s3Snapshots.ts).
  holdLocks: [allow(["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], bucketObjects("*/locks/"))],
  readCatalog: [allow(["s3:GetObject"], bucketObjects("catalog/"))],
  // The front door address (only with a public record) moves to a healthy worker.
  moveFrontDoor: [
    ifCond(
      Conditions.hasFrontDoorRecord,
      allow(
        ["ec2:AssociateAddress"],
        sub(
          `arn:\${AWS::Partition}:ec2:\${AWS::Region}:\${AWS::AccountId}:elastic-ip/\${${Ids.frontDoorAddress}.AllocationId}`,
        ),
      ),
      noValue,
    ),
    ifCond(
      Conditions.hasFrontDoorRecord,
      allow(["ec2:AssociateAddress"], arn("ec2", "instance/*"), {
        StringEquals: { [`aws:ResourceTag/${CLUSTER_TAG}`]: clusterName },
      }),
      noValue,
    ),
  ],
} satisfies Record<string, (Statement | CfnValue)[]>;

/** What each function may do (besides its logs and its VPC network interfaces). */
export const FUNCTION_CAPABILITIES: Record<FunctionName, (keyof typeof Capabilities)[]> = {
  lifecycle: [
    "observeGroups",
    "completeLifecycleActions",
    "writePrivateDns",
    "runNodeCommands",
    "readClusterParameters",
    "moveFrontDoor",
  ],
  reconcile: [
    "observeGroups",
    "completeLifecycleActions",
    "writePrivateDns",
    "runNodeCommands",
    "readClusterParameters",
    "moveFrontDoor",
    "putMetrics",
    // Recovery runs inside reconcile (functions/runtime/wiring.ts): whether the cluster has existed (a
    // valid snapshot is listed), a total loss's restore reads the snapshot, and both recoveries (from
    // a snapshot, from the survivor) take the restore lock object.
    "readSnapshots",
    "holdLocks",
  ],
  snapshot: ["writeSnapshots", "putMetrics", "observeGroups"],
  restore: [
    "readSnapshots",
    "holdLocks",
    "runNodeCommands",
    "writePrivateDns",
    "observeGroups",
    "putMetrics",
    "readClusterParameters",
  ],
  // readClusterParameters: the published image references units are rendered with.
  units: ["runNodeCommands", "observeGroups", "readCatalog", "readClusterParameters"],
};

export const functionName = (o: SynthOptions, fn: FunctionName) => `${o.service}-${o.stage}-${fn}`;

function functionStatements(o: SynthOptions, fn: FunctionName): (Statement | CfnValue)[] {
  const own: (Statement | CfnValue)[] = [
    // Serverless creates the log group; the function only writes to it.
    allow(
      ["logs:CreateLogStream", "logs:PutLogEvents"],
      arn("logs", `log-group:/aws/lambda/${functionName(o, fn)}:*`),
    ),
    // Lambda's network interfaces in the private subnets. Describe only works on "*"; the others
    // are held to this account and region (the form AWS's Lambda guide gives for Delete).
    allow(["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"], "*"),
    allow(
      [
        "ec2:CreateNetworkInterface",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
      ],
      arn("ec2", "*/*"),
    ),
  ];
  for (const cap of FUNCTION_CAPABILITIES[fn]) own.push(...Capabilities[cap]);
  return own;
}

const assumeRole = (service: string): CfnValue => ({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { Service: service }, Action: "sts:AssumeRole" }],
});

export function addIam(t: TemplateBuilder, o: SynthOptions, functions: readonly FunctionName[]): void {
  t.resource(Ids.nodeRole, {
    Type: "AWS::IAM::Role",
    Properties: {
      AssumeRolePolicyDocument: assumeRole("ec2.amazonaws.com"),
      ManagedPolicyArns: [sub("arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore")],
      Policies: [
        {
          PolicyName: "read-cluster-parameters",
          PolicyDocument: {
            Version: "2012-10-17",
            Statement: [allow(["ssm:GetParameter", "ssm:GetParameters"], clusterParameters)],
          },
        },
        {
          // presence-dns keeps service names in the private zone (ZONE_ID from cluster.env), and
          // only there; it never lists other zones.
          PolicyName: "write-service-names",
          PolicyDocument: {
            Version: "2012-10-17",
            Statement: [
              allow(
                ["route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets"],
                sub(`arn:\${AWS::Partition}:route53:::hostedzone/\${${Ids.privateZone}}`),
              ),
              allow(["route53:GetChange"], sub("arn:${AWS::Partition}:route53:::change/*")),
            ],
          },
        },
        {
          // Pull, never push, and only the cluster's own images; the token call has no resource.
          PolicyName: "pull-cluster-images",
          PolicyDocument: {
            Version: "2012-10-17",
            Statement: [
              allow(["ecr:GetAuthorizationToken"], "*"),
              allow(["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"], repositoryArns()),
            ],
          },
        },
      ],
    },
  });
  t.resource(Ids.nodeInstanceProfile, {
    Type: "AWS::IAM::InstanceProfile",
    Properties: { Roles: [ref(Ids.nodeRole)] },
  });

  for (const fn of functions) {
    t.resource(Ids.functionRole(fn), {
      Type: "AWS::IAM::Role",
      Properties: {
        Description: sub(`devcluster \${${Params.clusterName}}: the ${fn} function`),
        AssumeRolePolicyDocument: assumeRole("lambda.amazonaws.com"),
        Policies: [
          {
            PolicyName: `${fn}-function`,
            PolicyDocument: { Version: "2012-10-17", Statement: functionStatements(o, fn) },
          },
        ],
      },
    });
  }
}
