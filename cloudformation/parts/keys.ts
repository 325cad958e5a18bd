// The cluster's KMS key: snapshots (SSE-KMS) and SecureString parameters are encrypted under it. Its
// policy lets the account administer it but not use it; each role that reads or writes snapshots,
// and the nodes that read secrets, may use it only through S3 or SSM, and only for what they do.
import { arn, getAtt, ref, sub, type CfnValue, type TemplateBuilder } from "../cfn.ts";
import { Ids, Params } from "../ids.ts";
import { FUNCTION_CAPABILITIES } from "./iam.ts";
import type { FunctionName } from "../options.ts";
import { clusterKeyAlias } from "../../functions/domain/clusterKey.ts";

/** Managing the key, never using it: deploys and operators keep control, not access to the data. */
export const KEY_ADMIN_ACTIONS = [
  "kms:CancelKeyDeletion",
  "kms:CreateAlias",
  "kms:CreateGrant",
  "kms:DeleteAlias",
  "kms:DescribeKey",
  "kms:DisableKey",
  "kms:DisableKeyRotation",
  "kms:EnableKey",
  "kms:EnableKeyRotation",
  "kms:GetKeyPolicy",
  "kms:GetKeyRotationStatus",
  "kms:ListAliases",
  "kms:ListGrants",
  "kms:ListKeyPolicies",
  "kms:ListResourceTags",
  "kms:PutKeyPolicy",
  "kms:RevokeGrant",
  "kms:ScheduleKeyDeletion",
  "kms:TagResource",
  "kms:UntagResource",
  "kms:UpdateAlias",
  "kms:UpdateKeyDescription",
];

const roleArn = (id: string) => getAtt(id, "Arn");
/** Functions whose role reads snapshot objects (and so decrypts them). */
export const snapshotReaders = (functions: readonly FunctionName[]) =>
  functions.filter((fn) =>
    FUNCTION_CAPABILITIES[fn].some((c) =>
      ["readSnapshotHistory", "writeSnapshots", "restoreSnapshots"].includes(c),
    ),
  );
/** Functions whose role writes snapshot objects or the restore lock (and so asks for data keys). */
export const snapshotWriters = (functions: readonly FunctionName[]) =>
  functions.filter((fn) =>
    FUNCTION_CAPABILITIES[fn].some((c) => ["writeSnapshots", "restoreSnapshots"].includes(c)),
  );

const via = (service: string): Record<string, CfnValue> => ({
  "kms:ViaService": sub(`${service}.\${AWS::Region}.amazonaws.com`),
});
/** SSM names the parameter in the encryption context: only the cluster's own parameters. */
const clusterParameterContext = {
  "kms:EncryptionContext:PARAMETER_ARN": sub(
    `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter/devcluster/\${${Params.clusterName}}/*`,
  ),
};

export function addClusterKey(t: TemplateBuilder, functions: readonly FunctionName[]): void {
  const account = arn("iam", "root", { region: false });
  const statement = (Sid: string, principals: CfnValue[], Action: string[], cond?: CfnValue) => ({
    Sid,
    Effect: "Allow",
    Principal: { AWS: principals },
    Action,
    Resource: "*",
    ...(cond ? { Condition: cond } : {}),
  });
  t.resource(Ids.clusterKey, {
    Type: "AWS::KMS::Key",
    // Snapshots outlive the stack (the bucket is kept): so must the key that decrypts them.
    DeletionPolicy: "Retain",
    UpdateReplacePolicy: "Retain",
    Properties: {
      Description: sub(`devcluster \${${Params.clusterName}}: etcd snapshots and SecureString parameters`),
      EnableKeyRotation: true,
      KeySpec: "SYMMETRIC_DEFAULT",
      KeyUsage: "ENCRYPT_DECRYPT",
      KeyPolicy: {
        Version: "2012-10-17",
        Statement: [
          statement("AccountAdministersTheKey", [account], KEY_ADMIN_ACTIONS),
          statement(
            "ReadSnapshots",
            [...snapshotReaders(functions).map((fn) => roleArn(Ids.functionRole(fn))), roleArn(Ids.nodeRole)],
            ["kms:Decrypt"],
            { StringEquals: via("s3") },
          ),
          statement(
            "WriteSnapshots",
            // Nodes write database dumps (below db-dumps/ only, by their IAM policy).
            [...snapshotWriters(functions).map((fn) => roleArn(Ids.functionRole(fn))), roleArn(Ids.nodeRole)],
            ["kms:GenerateDataKey"],
            { StringEquals: via("s3") },
          ),
          // Operators (and whatever the account lets write the cluster's secrets) put SecureStrings;
          // only the nodes read them back.
          statement("WriteClusterSecrets", [account], ["kms:Encrypt", "kms:GenerateDataKey"], {
            StringEquals: via("ssm"),
            StringLike: clusterParameterContext,
          }),
          statement("NodesReadClusterSecrets", [roleArn(Ids.nodeRole)], ["kms:Decrypt"], {
            StringEquals: via("ssm"),
            StringLike: clusterParameterContext,
          }),
        ],
      },
      // No Tags: moto 5.2.5's CloudFormation reads them in KMS's own API shape (TagKey) and fails on
      // CloudFormation's (Key); the alias and the description name the cluster.
    },
  });
  t.resource(Ids.clusterKeyAlias, {
    Type: "AWS::KMS::Alias",
    Properties: {
      AliasName: sub(clusterKeyAlias(`\${${Params.clusterName}}`)),
      TargetKeyId: ref(Ids.clusterKey),
    },
  });
}
