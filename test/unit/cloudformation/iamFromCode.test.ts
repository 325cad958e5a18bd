// Each function's role holds what its code can send, and nothing else: the AWS SDK commands reachable
// from the function's handler (its esbuild bundle, tree-shaken as the deployed one is) are read back
// and translated into IAM actions, then compared with the role's actions in the template.
import { build } from "esbuild";
import { describe, expect, it } from "vitest";
import { buildTemplate } from "../../../cloudformation/template.ts";
import { FUNCTION_NAMES, type FunctionName } from "../../../cloudformation/options.ts";
import { Ids } from "../../../cloudformation/ids.ts";
import { actionsOf } from "./helpers.ts";

/** An SDK command (by client package) and the IAM actions AWS checks for it. */
const ACTION_OF: Record<string, Record<string, string | string[]>> = {
  "@aws-sdk/client-auto-scaling": {
    DescribeAutoScalingGroupsCommand: "autoscaling:DescribeAutoScalingGroups",
    CompleteLifecycleActionCommand: "autoscaling:CompleteLifecycleAction",
    RecordLifecycleActionHeartbeatCommand: "autoscaling:RecordLifecycleActionHeartbeat",
  },
  // CreateVolume with TagSpecifications is also authorized as CreateTags on the new volume.
  "@aws-sdk/client-ec2": {
    DescribeInstancesCommand: "ec2:DescribeInstances",
    DescribeVolumesCommand: "ec2:DescribeVolumes",
    CreateVolumeCommand: ["ec2:CreateVolume", "ec2:CreateTags"],
    AttachVolumeCommand: "ec2:AttachVolume",
    DetachVolumeCommand: "ec2:DetachVolume",
    // CreateSnapshot with TagSpecifications is also authorized as CreateTags on the new snapshot.
    CreateSnapshotCommand: ["ec2:CreateSnapshot", "ec2:CreateTags"],
    DeleteSnapshotCommand: "ec2:DeleteSnapshot",
    DescribeSnapshotsCommand: "ec2:DescribeSnapshots",
    CreateTagsCommand: "ec2:CreateTags",
    DeleteTagsCommand: "ec2:DeleteTags",
  },
  "@aws-sdk/client-route-53": {
    ChangeResourceRecordSetsCommand: "route53:ChangeResourceRecordSets",
    ListResourceRecordSetsCommand: "route53:ListResourceRecordSets",
  },
  "@aws-sdk/client-ssm": {
    SendCommandCommand: "ssm:SendCommand",
    GetCommandInvocationCommand: "ssm:GetCommandInvocation",
    ListCommandInvocationsCommand: "ssm:ListCommandInvocations",
    GetParameterCommand: "ssm:GetParameter",
    PutParameterCommand: "ssm:PutParameter",
  },
  "@aws-sdk/client-cloudwatch": { PutMetricDataCommand: "cloudwatch:PutMetricData" },
  // A multipart upload is authorized as PutObject; a batch delete as DeleteObject per key.
  "@aws-sdk/client-s3": {
    PutObjectCommand: "s3:PutObject",
    CreateMultipartUploadCommand: "s3:PutObject",
    UploadPartCommand: "s3:PutObject",
    CompleteMultipartUploadCommand: "s3:PutObject",
    AbortMultipartUploadCommand: "s3:AbortMultipartUpload",
    GetObjectCommand: "s3:GetObject",
    ListObjectsV2Command: "s3:ListBucket",
    DeleteObjectCommand: "s3:DeleteObject",
    DeleteObjectsCommand: "s3:DeleteObject",
  },
};

/**
 * What S3 asks of KMS on the caller's behalf, the bucket being SSE-KMS under the cluster key: a read
 * decrypts the object's data key, a write asks for one (and a multipart upload decrypts it to finish).
 */
const IMPLIED: Record<string, string[]> = {
  "s3:GetObject": ["kms:Decrypt"],
  "s3:PutObject": ["kms:GenerateDataKey", "kms:Decrypt"],
};

/** What a role needs whatever its code: its logs and Lambda's network interfaces in the VPC. */
const RUNTIME = new Set([
  "logs:CreateLogStream",
  "logs:PutLogEvents",
  "ec2:DescribeNetworkInterfaces",
  "ec2:CreateNetworkInterface",
  "ec2:DeleteNetworkInterface",
  "ec2:AssignPrivateIpAddresses",
  "ec2:UnassignPrivateIpAddresses",
]);

/**
 * Reachable in the bundle, never sent by this function, each with why: the snapshot store and the
 * dependencies are objects shared by several functions, so a bundle holds all their methods.
 */
const REACHABLE_NOT_SENT: Record<FunctionName, Record<string, string>> = {
  lifecycle: {
    "s3:PutObject": "the snapshot store's writes: lifecycle only lists snapshots and reads manifests",
    "s3:DeleteObject": "the snapshot store's deletes",
    "kms:GenerateDataKey": "the data key of the snapshot store's writes",
    "s3:AbortMultipartUpload": "the snapshot store's upload",
    "cloudwatch:PutMetricData": "the no-quorum alarm and recovery: reconcile's paths in the shared deps",
  },
  reconcile: {
    "autoscaling:CompleteLifecycleAction": "lifecycle actions: only the lifecycle handler answers hooks",
    "autoscaling:RecordLifecycleActionHeartbeat": "lifecycle heartbeats: the lifecycle handler's",
    "s3:AbortMultipartUpload": "the snapshot store's upload: reconcile never uploads",
    "ssm:PutParameter": "the etcd PKI's creation in the shared deps: only a launch issues certificates",
  },
  snapshot: {},
  restore: {
    "autoscaling:CompleteLifecycleAction": "lifecycle actions: only the lifecycle handler answers hooks",
    "autoscaling:RecordLifecycleActionHeartbeat": "lifecycle heartbeats: the lifecycle handler's",
    "s3:AbortMultipartUpload": "the snapshot store's upload: restore never uploads",
    "ssm:PutParameter": "the etcd PKI's creation in the shared deps: only a launch issues certificates",
  },
  units: {},
  status: {
    "s3:PutObject": "the snapshot store's writes: status only lists snapshots and reads manifests",
    "s3:DeleteObject": "the snapshot store's deletes",
    "kms:GenerateDataKey": "the data key of the snapshot store's writes",
    "s3:AbortMultipartUpload": "the snapshot store's upload",
    "ec2:CreateVolume": "the volumes store's create: status only lists volumes",
    "ec2:CreateTags": "the tags of the volumes store's create",
    "ec2:AttachVolume": "the volumes store's attach",
    "ec2:DetachVolume": "the volumes store's detach",
  },
  restart: {},
};

async function sentBy(fn: FunctionName): Promise<Set<string>> {
  const out = await build({
    entryPoints: [`functions/handlers/${fn}.ts`],
    bundle: true,
    write: false,
    format: "esm",
    platform: "node",
    // Kept external so each command keeps its name and the package it comes from.
    external: ["@aws-sdk/*", "etcd3"],
    logLevel: "silent",
  });
  const text = out.outputFiles[0]!.text;
  const pkgOf = new Map<string, string>();
  for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*"(@aws-sdk\/[^"]+)"/g))
    for (const name of m[1]!.split(",")) {
      const [imported, local] = name.split(/\s+as\s+/).map((x) => x.trim());
      pkgOf.set(local ?? imported!, m[2]!);
    }
  const actions = new Set<string>();
  for (const m of text.matchAll(/new (\w+Command\d*)\(/g)) {
    const pkg = pkgOf.get(m[1]!);
    const action = pkg && ACTION_OF[pkg]?.[m[1]!.replace(/\d+$/, "")];
    if (!action) throw new Error(`${fn}: no IAM action known for ${m[1]} (${pkg ?? "not imported"})`);
    for (const a of [action].flat()) actions.add(a);
  }
  for (const a of [...actions]) for (const implied of IMPLIED[a] ?? []) actions.add(implied);
  return actions;
}

describe("each function's role matches the AWS calls its code can make", () => {
  const t = buildTemplate();
  it.each(FUNCTION_NAMES)(
    "%s",
    async (fn) => {
      const sent = await sentBy(fn);
      const granted = [...actionsOf(t, Ids.functionRole(fn))].filter((a) => !RUNTIME.has(a));
      // Nothing granted that the code cannot send.
      expect(granted.filter((a) => !sent.has(a)).sort()).toEqual([]);
      // Everything the code can send is granted, or explained.
      expect([...sent].filter((a) => !granted.includes(a)).sort()).toEqual(
        Object.keys(REACHABLE_NOT_SENT[fn]).sort(),
      );
    },
    30_000,
  );
});
