// IAM: the node role, and one role per function holding exactly the actions that function calls,
// each scoped to the cluster's own resources. `Resource: "*"` appears only for actions AWS does not
// scope by resource (Describe*/List*, GetCommandInvocation, PutMetricData, which is then pinned to
// the namespace by condition); no statement allows an `*` action.
import { arn, getAtt, ref, sub, type CfnValue, type TemplateBuilder } from "../cfn.ts";
import { Ids, METRICS, Params } from "../ids.ts";
import type { FunctionName, SynthOptions } from "../options.ts";
import { CLUSTER_TAG, ROLES } from "../../functions/domain/model.ts";
import { clusterKeyAlias } from "../../functions/domain/clusterKey.ts";
import { DUMP_KEY_PREFIX } from "../../functions/domain/databaseDumps.ts";
import { FILEDROP_KEY_PREFIX } from "../../functions/domain/fileDrop.ts";
import { CONTROL_PLANE_USER } from "../../functions/domain/etcdUser.ts";
import { VOLUME_TAGS } from "../../functions/domain/volumes.ts";
import { repositoryArns } from "./images.ts";

// A type alias (not an interface) so a statement is assignable to CfnValue.
export type Statement = {
  Effect: "Allow";
  Action: string[];
  Resource: CfnValue | CfnValue[];
  Condition?: Record<string, Record<string, CfnValue>>;
};

/**
 * The SSM agent's own calls (registration, Run Command's message channels, associations, inventory):
 * AWS's AmazonSSMManagedInstanceCore without its `ssm:GetParameter*` on every parameter, which would
 * let any process on a node read every parameter of the account. None of these scope by resource.
 */
export const SSM_AGENT_ACTIONS = [
  "ssm:DescribeAssociation",
  "ssm:GetDeployablePatchSnapshotForInstance",
  "ssm:GetDocument",
  "ssm:DescribeDocument",
  "ssm:GetManifest",
  "ssm:ListAssociations",
  "ssm:ListInstanceAssociations",
  "ssm:PutInventory",
  "ssm:PutComplianceItems",
  "ssm:PutConfigurePackageResult",
  "ssm:UpdateAssociationStatus",
  "ssm:UpdateInstanceAssociationStatus",
  "ssm:UpdateInstanceInformation",
  "ssmmessages:CreateControlChannel",
  "ssmmessages:CreateDataChannel",
  "ssmmessages:OpenControlChannel",
  "ssmmessages:OpenDataChannel",
  "ec2messages:AcknowledgeMessage",
  "ec2messages:DeleteMessage",
  "ec2messages:FailMessage",
  "ec2messages:GetEndpoint",
  "ec2messages:GetMessages",
  "ec2messages:SendReply",
];

/** Actions that only accept `Resource: "*"` (no resource-level permissions in IAM). */
export const UNSCOPABLE_ACTIONS = new Set([
  "autoscaling:DescribeAutoScalingGroups",
  "ec2:DescribeInstances",
  "ec2:DescribeNetworkInterfaces",
  "ec2:DescribeVolumes",
  "ec2:DescribeSnapshots",
  "ssm:GetCommandInvocation",
  "ssm:ListCommandInvocations",
  "cloudwatch:PutMetricData",
  "ecr:GetAuthorizationToken",
  ...SSM_AGENT_ACTIONS,
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
/**
 * The cluster's own part of the snapshot bucket: `etcd-snapshots/<cluster>/` (SNAPSHOT_PREFIX's
 * default, functions/domain/snapshots.ts), then data/, manifests/ or locks/.
 */
export const SNAPSHOT_KEY_PREFIX = "etcd-snapshots/";
const snapshotObjects = (part: "data" | "manifests" | "locks") =>
  sub(`\${${Ids.snapshotBucket}.Arn}/${SNAPSHOT_KEY_PREFIX}\${${Params.clusterName}}/${part}/*`);
const listOwnSnapshots = allow(["s3:ListBucket"], bucketArn, {
  StringLike: { "s3:prefix": sub(`${SNAPSHOT_KEY_PREFIX}\${${Params.clusterName}}/*`) },
});
const clusterParameters = sub(
  `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter/devcluster/\${${Params.clusterName}}/*`,
);
/** The published image references (functions/domain/images.ts imagesParameterName). */
const imagesParameter = sub(
  `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter/devcluster/\${${Params.clusterName}}/images`,
);
/** Client services' database passwords (containers/postgres: made once by the database service). */
const databasePasswordParameters = sub(
  `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter/devcluster/\${${Params.clusterName}}/db/*`,
);
/** The SSH-key service's list-signing key (functions/adapters/aws/ssmListSigningKey.ts): made once. */
const sshKeysSigningParameter = sub(
  `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter/devcluster/\${${Params.clusterName}}/sshkeys/signing-key`,
);
/**
 * The cluster's user pool, by its id (a GetAtt of its Arn would be the same on AWS, but the local
 * cluster's CloudFormation, moto, has no Cognito resources and refuses a GetAtt of one).
 */
const userPoolArn = sub(
  `arn:\${AWS::Partition}:cognito-idp:\${AWS::Region}:\${AWS::AccountId}:userpool/\${${Ids.userPool}}`,
);
/** What the SSH-key service asks of the user pool: its users and groups, and an admin's group changes. */
export const SSH_KEY_SERVICE_POOL_ACTIONS = [
  "cognito-idp:ListUsers",
  "cognito-idp:AdminGetUser",
  "cognito-idp:AdminListGroupsForUser",
  "cognito-idp:ListGroups",
  "cognito-idp:AdminAddUserToGroup",
  "cognito-idp:AdminRemoveUserFromGroup",
] as const;
/** The etcd PKI (functions/adapters/aws/ssmClusterPki.ts): the CA and the control plane's client key. */
const etcdPkiParameters = sub(
  `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter/devcluster/\${${Params.clusterName}}/etcd/*`,
);
/**
 * The control plane's etcd client certificate, which also carries the CA's certificate (not its key):
 * all a function needs to reach members that serve TLS.
 */
const etcdClientParameter = sub(
  `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter/devcluster/\${${Params.clusterName}}/etcd/client-${CONTROL_PLANE_USER}`,
);
/**
 * The cluster key (parts/keys.ts), through the one service that uses it for the caller. Named by
 * alias, not by ARN: the key's policy names these roles, so a role naming the key's ARN would make
 * the two depend on each other.
 */
export const KMS_VIA = { s3: "s3", ssm: "ssm" } as const;
const useClusterKey = (Action: string[], via: keyof typeof KMS_VIA): Statement =>
  allow(Action, arn("kms", "key/*"), {
    StringEquals: { "kms:ViaService": sub(`${KMS_VIA[via]}.\${AWS::Region}.amazonaws.com`) },
    "ForAnyValue:StringEquals": { "kms:ResourceAliases": sub(clusterKeyAlias(`\${${Params.clusterName}}`)) },
  });
/** The cluster key through SSM, for SecureStrings under `parameters` only (SSM names each in the context). */
const useClusterKeyForParameters = (Action: string[], parameters: CfnValue): Statement => {
  const s = useClusterKey(Action, "ssm");
  return {
    ...s,
    Condition: {
      ...s.Condition,
      StringLike: { "kms:EncryptionContext:PARAMETER_ARN": parameters },
    },
  };
};
/** Reading a snapshot object (SSE-KMS under the cluster key) needs the key's Decrypt. */
const decryptSnapshots = useClusterKey(["kms:Decrypt"], "s3");
/** Writing one needs a data key; a multipart upload also decrypts it to complete the upload. */
const encryptSnapshots = useClusterKey(["kms:Decrypt", "kms:GenerateDataKey"], "s3");
const privateZoneArn = sub(`arn:\${AWS::Partition}:route53:::hostedzone/\${${Ids.privateZone}}`);

/**
 * Building blocks: each names one capability, as the SDK commands the code sends
 * (functions/adapters/aws/*) translate into IAM actions. test/unit/cloudformation/iamFromCode.test.ts
 * compares each function's role with the commands its bundle can send.
 */
const Capabilities = {
  // groups.ts: DescribeAutoScalingGroups, DescribeInstances.
  observeGroups: [allow(["autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstances"], "*")],
  // ec2Volumes.ts: DescribeVolumes (EC2's Describe calls only work on "*").
  observeVolumes: [allow(["ec2:DescribeVolumes"], "*")],
  // lifecycleActions.ts: only the lifecycle handler answers lifecycle hooks.
  completeLifecycleActions: [
    allow(
      ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"],
      ROLES.map(groupArn),
    ),
  ],
  // route53Dns.ts: ChangeResourceRecordSets, ListResourceRecordSets (it never waits on GetChange).
  writePrivateDns: [
    allow(["route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets"], privateZoneArn),
  ],
  runNodeCommands: [
    allow(["ssm:SendCommand"], arn("ssm", "document/AWS-RunShellScript", { account: false })),
    // Only the cluster's own instances: the group tag propagates to them at launch.
    allow(["ssm:SendCommand"], arn("ec2", "instance/*"), {
      StringEquals: { [`ssm:resourceTag/${CLUSTER_TAG}`]: clusterName },
    }),
    allow(["ssm:GetCommandInvocation", "ssm:ListCommandInvocations"], "*"),
  ],
  // ec2Volumes.ts: service volumes are found by tag and created tagged with the cluster; a role may
  // create only volumes that carry its cluster's tag, and tag only at their creation.
  manageVolumes: [
    allow(["ec2:DescribeVolumes"], "*"),
    allow(["ec2:CreateVolume"], arn("ec2", "volume/*"), {
      StringEquals: { [`aws:RequestTag/${CLUSTER_TAG}`]: clusterName },
    }),
    allow(["ec2:CreateTags"], arn("ec2", "volume/*"), {
      StringEquals: { "ec2:CreateAction": "CreateVolume" },
    }),
    // Attach and detach check both the volume and the instance: both must be the cluster's.
    allow(["ec2:AttachVolume", "ec2:DetachVolume"], [arn("ec2", "volume/*"), arn("ec2", "instance/*")], {
      StringEquals: { [`ec2:ResourceTag/${CLUSTER_TAG}`]: clusterName },
    }),
  ],
  // ec2VolumeSnapshots.ts listVolumeSnapshots: each volume's newest snapshot (status shows it).
  observeVolumeSnapshots: [allow(["ec2:DescribeSnapshots"], "*")],
  // ec2VolumeSnapshots.ts: snapshots of the cluster's volumes only, tagged with the cluster at their
  // creation; only the cluster's snapshots are deleted (retention) or made into a volume (restore,
  // move); a volume's tags change only for the swap's two keys, and only on the cluster's volumes.
  snapshotVolumes: [
    allow(["ec2:DescribeSnapshots"], "*"),
    allow(["ec2:CreateSnapshot"], arn("ec2", "volume/*"), {
      StringEquals: { [`ec2:ResourceTag/${CLUSTER_TAG}`]: clusterName },
    }),
    allow(["ec2:CreateSnapshot"], arn("ec2", "snapshot/*", { account: false }), {
      StringEquals: { [`aws:RequestTag/${CLUSTER_TAG}`]: clusterName },
    }),
    allow(["ec2:CreateTags"], arn("ec2", "snapshot/*", { account: false }), {
      StringEquals: { "ec2:CreateAction": "CreateSnapshot" },
    }),
    allow(["ec2:DeleteSnapshot", "ec2:CreateVolume"], arn("ec2", "snapshot/*", { account: false }), {
      StringEquals: { [`ec2:ResourceTag/${CLUSTER_TAG}`]: clusterName },
    }),
    allow(["ec2:CreateTags"], arn("ec2", "volume/*"), {
      StringEquals: { [`ec2:ResourceTag/${CLUSTER_TAG}`]: clusterName },
      "ForAllValues:StringEquals": { "aws:TagKeys": [VOLUME_TAGS.retired] },
    }),
    allow(["ec2:DeleteTags"], arn("ec2", "volume/*"), {
      StringEquals: { [`ec2:ResourceTag/${CLUSTER_TAG}`]: clusterName },
      "ForAllValues:StringEquals": { "aws:TagKeys": [VOLUME_TAGS.replaces] },
    }),
  ],
  // ssmPublishedImages.ts: units are rendered with the published image references (GetParameter).
  readPublishedImages: [allow(["ssm:GetParameter"], imagesParameter)],
  // ssmClusterPki.ts: reads the CA to sign launching nodes' CSRs, and creates it (and the control
  // plane's client certificate) the first time, PutParameter without overwrite.
  issueNodeCertificates: [allow(["ssm:GetParameter", "ssm:PutParameter"], etcdPkiParameters)],
  // ssmClusterPki.ts ssmControlPlaneTls: the control plane's etcd certificate, read when a member
  // serving https is first dialled (runtime/etcdTls.ts). Never the CA's key.
  reachEtcdOverTls: [allow(["ssm:GetParameter"], etcdClientParameter)],
  putMetrics: [
    allow(["cloudwatch:PutMetricData"], "*", { StringEquals: { "cloudwatch:namespace": METRICS.namespace } }),
  ],
  // formedBefore(): list the cluster's snapshots and read their manifests (a valid one means the
  // cluster existed, so it is never bootstrapped empty over its data).
  readSnapshotHistory: [
    listOwnSnapshots,
    allow(["s3:GetObject"], snapshotObjects("manifests")),
    decryptSnapshots,
  ],
  // snapshot: streams data (multipart: PutObject and AbortMultipartUpload), then the manifest;
  // retention deletes old data and manifests. Nowhere else in the bucket.
  writeSnapshots: [
    listOwnSnapshots,
    allow(["s3:GetObject"], snapshotObjects("manifests")),
    allow(
      ["s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"],
      [snapshotObjects("data"), snapshotObjects("manifests")],
    ),
    encryptSnapshots,
  ],
  // restore (by hand, or reconcile's automatic one): reads manifests and data (nodes fetch the data
  // through a URL this role presigns), and holds the restore lock.
  restoreSnapshots: [
    listOwnSnapshots,
    allow(["s3:GetObject"], [snapshotObjects("manifests"), snapshotObjects("data")]),
    allow(["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], snapshotObjects("locks")),
    // The lock is an object too: written under a data key.
    encryptSnapshots,
  ],
} satisfies Record<string, (Statement | CfnValue)[]>;

/** What each function may do (besides its logs and its VPC network interfaces). */
export const FUNCTION_CAPABILITIES: Record<FunctionName, (keyof typeof Capabilities)[]> = {
  lifecycle: [
    "observeGroups",
    "completeLifecycleActions",
    "writePrivateDns",
    "runNodeCommands",
    "readPublishedImages",
    "manageVolumes",
    "readSnapshotHistory",
    "issueNodeCertificates",
  ],
  reconcile: [
    "observeGroups",
    "writePrivateDns",
    "runNodeCommands",
    "readPublishedImages",
    "manageVolumes",
    "putMetrics",
    // Recovery runs inside reconcile (functions/runtime/wiring.ts): whether the cluster has existed (a
    // valid snapshot is listed), a total loss's restore reads the snapshot, and both recoveries (from
    // a snapshot, from the survivor) take the restore lock object.
    "readSnapshotHistory",
    "restoreSnapshots",
    "reachEtcdOverTls",
  ],
  snapshot: ["writeSnapshots", "putMetrics", "observeGroups", "reachEtcdOverTls"],
  // After a restore it runs a reconcile pass (DNS, units with the published images).
  restore: [
    "restoreSnapshots",
    "runNodeCommands",
    "writePrivateDns",
    "observeGroups",
    "putMetrics",
    "readPublishedImages",
    "manageVolumes",
    "reachEtcdOverTls",
  ],
  // The catalog ships inside the bundle (functions/catalog): nothing is read from S3.
  // It also snapshots service volumes (daily, or by hand) and swaps one for a restore or a move,
  // then syncs: the swap and the fence that follows it run in the one function that pushes units.
  units: [
    "runNodeCommands",
    "observeGroups",
    "readPublishedImages",
    "manageVolumes",
    "snapshotVolumes",
    "reachEtcdOverTls",
  ],
  // Read-only: the groups, the cluster's tagged volumes and its snapshots' manifests (etcd is reached
  // over the network from inside the VPC, with no IAM).
  status: [
    "observeGroups",
    "observeVolumes",
    "observeVolumeSnapshots",
    "readSnapshotHistory",
    "reachEtcdOverTls",
  ],
  // One unit restarted where the placement puts it (etcd over the network, the main group's
  // addresses from the groups); the script is fixed in its code.
  restart: ["observeGroups", "runNodeCommands", "reachEtcdOverTls"],
};

export const functionName = (o: SynthOptions, fn: FunctionName) => `${o.service}-${o.stage}-${fn}`;

/** Statements that repeat (two capabilities listing the same bucket) appear once. */
function unique(statements: (Statement | CfnValue)[]): (Statement | CfnValue)[] {
  const seen = new Set<string>();
  return statements.filter((s) => {
    const k = JSON.stringify(s);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function functionStatements(o: SynthOptions, fn: FunctionName): (Statement | CfnValue)[] {
  const inVpc = {
    ArnEquals: {
      "ec2:Vpc": sub(`arn:\${AWS::Partition}:ec2:\${AWS::Region}:\${AWS::AccountId}:vpc/\${${Ids.vpc}}`),
    },
  };
  const own: (Statement | CfnValue)[] = [
    // Serverless creates the log group; the function only writes to it.
    allow(
      ["logs:CreateLogStream", "logs:PutLogEvents"],
      arn("logs", `log-group:/aws/lambda/${functionName(o, fn)}:*`),
    ),
    // Lambda's network interfaces in the cluster's VPC (the function runs in its private subnets).
    // Describe only works on "*"; the others are held to the cluster's VPC by condition.
    allow(["ec2:DescribeNetworkInterfaces"], "*"),
    allow(
      [
        "ec2:CreateNetworkInterface",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
      ],
      arn("ec2", "*/*"),
      inVpc,
    ),
  ];
  for (const cap of FUNCTION_CAPABILITIES[fn]) own.push(...Capabilities[cap]);
  return unique(own);
}

const assumeRole = (service: string): CfnValue => ({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { Service: service }, Action: "sts:AssumeRole" }],
});

/**
 * The functions the dashboard service may invoke: one reads, one only adds a snapshot, one only
 * restarts a placed unit where it is placed.
 */
export const DASHBOARD_FUNCTIONS = [
  "status",
  "snapshot",
  "restart",
] as const satisfies readonly FunctionName[];

function dashboardStatements(o: SynthOptions, functions: readonly FunctionName[]): Statement[] {
  return [
    allow(
      ["cloudformation:DescribeStacks", "cloudformation:DescribeStackResources"],
      sub(
        `arn:\${AWS::Partition}:cloudformation:\${AWS::Region}:\${AWS::AccountId}:stack/\${AWS::StackName}/*`,
      ),
    ),
    allow(
      ["lambda:InvokeFunction"],
      DASHBOARD_FUNCTIONS.map((fn) => arn("lambda", `function:${functionName(o, fn)}`)),
    ),
    allow(
      ["logs:FilterLogEvents"],
      functions.map((fn) => arn("logs", `log-group:/aws/lambda/${functionName(o, fn)}:*`)),
    ),
  ];
}

export function addIam(t: TemplateBuilder, o: SynthOptions, functions: readonly FunctionName[]): void {
  t.resource(Ids.nodeRole, {
    Type: "AWS::IAM::Role",
    Properties: {
      AssumeRolePolicyDocument: assumeRole("ec2.amazonaws.com"),
      Policies: [
        {
          // AmazonSSMManagedInstanceCore's SSM agent calls, without its GetParameter* on "*".
          PolicyName: "ssm-agent",
          PolicyDocument: { Version: "2012-10-17", Statement: [allow(SSM_AGENT_ACTIONS, "*")] },
        },
        {
          PolicyName: "read-cluster-parameters",
          PolicyDocument: {
            Version: "2012-10-17",
            Statement: [
              allow(["ssm:GetParameter", "ssm:GetParameters"], clusterParameters),
              // The etcd CA's key is the control plane's: a node holding it could certify anyone.
              {
                Effect: "Deny",
                Action: ["ssm:GetParameter", "ssm:GetParameters"],
                Resource: etcdPkiParameters,
              },
              // SecureStrings (the front door's TLS key) are decrypted for the cluster's own parameters only.
              useClusterKeyForParameters(["kms:Decrypt"], clusterParameters),
            ],
          },
        },
        {
          // The postgres building block stores each client service's password once, as a
          // SecureString under the cluster key, below db/ only (reading is read-cluster-parameters').
          PolicyName: "store-database-passwords",
          PolicyDocument: {
            Version: "2012-10-17",
            Statement: [
              allow(["ssm:PutParameter"], databasePasswordParameters),
              useClusterKeyForParameters(["kms:Encrypt"], databasePasswordParameters),
            ],
          },
        },
        {
          // Database services dump each client database below db-dumps/<cluster>/ (decision 55):
          // put only (a node never deletes a dump), encrypted by the bucket's default.
          PolicyName: "write-database-dumps",
          PolicyDocument: {
            Version: "2012-10-17",
            Statement: [
              allow(
                ["s3:PutObject", "s3:AbortMultipartUpload"],
                sub(`\${${Ids.snapshotBucket}.Arn}/${DUMP_KEY_PREFIX}\${${Params.clusterName}}/*`),
              ),
              encryptSnapshots,
            ],
          },
        },
        {
          // A restore's nodes fetch the snapshot themselves (restorePlan.ts fetchScript): its data
          // objects only, never manifests, locks or another cluster's, decrypted through S3.
          PolicyName: "fetch-snapshots",
          PolicyDocument: {
            Version: "2012-10-17",
            Statement: [allow(["s3:GetObject"], snapshotObjects("data")), decryptSnapshots],
          },
        },
        {
          // A database service lists its dumps and restores one itself (decision 58): the cluster's
          // dumps only, decrypted through S3. No new reach: a node already reads every client's
          // database password, so it could read the databases themselves.
          PolicyName: "read-database-dumps",
          PolicyDocument: {
            Version: "2012-10-17",
            Statement: [
              allow(["s3:ListBucket"], bucketArn, {
                StringLike: { "s3:prefix": sub(`${DUMP_KEY_PREFIX}\${${Params.clusterName}}/*`) },
              }),
              allow(
                ["s3:GetObject"],
                sub(`\${${Ids.snapshotBucket}.Arn}/${DUMP_KEY_PREFIX}\${${Params.clusterName}}/*`),
              ),
              decryptSnapshots,
            ],
          },
        },
        {
          // presence-dns keeps service names in the private zone (ZONE_ID from cluster.env), and
          // only there; it never lists other zones.
          PolicyName: "write-service-names",
          PolicyDocument: {
            Version: "2012-10-17",
            Statement: [
              allow(["route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets"], privateZoneArn),
            ],
          },
        },
        {
          // The dashboard service (decision 53) reads the stack as the command line does and takes
          // snapshots: its own stack's description, the read-only status function, the snapshot
          // function (which only adds a snapshot) and the functions' log groups. Never SSM Run
          // Command or the functions that change the cluster (units, restore, lifecycle, reconcile).
          PolicyName: "operate-dashboard",
          PolicyDocument: {
            Version: "2012-10-17",
            Statement: dashboardStatements(o, functions),
          },
        },
        {
          // The file drop (decision 61) keeps its files and records below filedrop/<cluster>/ of the
          // snapshot bucket, presigns the browser's part uploads and the downloads with these same
          // grants, and mails links from the stack's sender address only.
          PolicyName: "file-drop",
          PolicyDocument: {
            Version: "2012-10-17",
            Statement: [
              allow(
                ["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                sub(`\${${Ids.snapshotBucket}.Arn}/${FILEDROP_KEY_PREFIX}\${${Params.clusterName}}/*`),
              ),
              encryptSnapshots,
              allow(["ses:SendEmail"], arn("ses", "identity/*"), {
                StringEquals: { "ses:FromAddress": ref(Params.fileDropSender) },
              }),
            ],
          },
        },
        {
          // The SSH-key service (decision 64) makes its list-signing key once as a SecureString under
          // the cluster key and may never replace it (hosts trust its public half), reads the pool's
          // users and groups for the lists, and changes groups for members of admins. Those group
          // changes add no reach: a node already reads the front door's session key, with which it
          // could sign itself in as any admin.
          PolicyName: "ssh-key-service",
          PolicyDocument: {
            Version: "2012-10-17",
            Statement: [
              allow(["ssm:PutParameter"], sshKeysSigningParameter),
              {
                Effect: "Deny",
                Action: ["ssm:PutParameter"],
                Resource: sshKeysSigningParameter,
                Condition: { StringEquals: { "ssm:Overwrite": "true" } },
              },
              useClusterKeyForParameters(["kms:Encrypt"], sshKeysSigningParameter),
              allow([...SSH_KEY_SERVICE_POOL_ACTIONS], userPoolArn),
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
