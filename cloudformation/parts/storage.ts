// The snapshot bucket: versioned, encrypted under the cluster key (SSE-KMS: a snapshot holds
// whatever etcd holds, so reading one takes the key's permission as well as the bucket's), never
// public, TLS only, closed to every principal but the roles that use it, and kept when the stack
// goes (snapshots are how a lost cluster comes back).
import { arn, getAtt, ref, sub, tags, type CfnValue, type TemplateBuilder } from "../cfn.ts";
import { Ids, Params } from "../ids.ts";
import type { FunctionName } from "../options.ts";
import { snapshotReaders } from "./keys.ts";
import { SNAPSHOT_KEY_PREFIX } from "./iam.ts";
import { DUMP_KEY_PREFIX } from "../../functions/domain/databaseDumps.ts";
import { FILEDROP_KEY_PREFIX, FILEDROP_MAX_DAYS } from "../../functions/domain/fileDrop.ts";
import { clusterKeyAlias } from "../../functions/domain/clusterKey.ts";

/**
 * What the bucket policy denies every other principal: changing any object, and reading any but a
 * manifest (a snapshot holds whatever etcd holds; a manifest holds ids, sizes and checksums, which
 * operators list and read). Bucket settings, its policy included, stay with the account, so an
 * administrator can always change this.
 */
export const SNAPSHOT_WRITE_ACTIONS = [
  "s3:PutObject*",
  "s3:DeleteObject*",
  "s3:RestoreObject",
  "s3:AbortMultipartUpload",
];
export const SNAPSHOT_READ_ACTIONS = ["s3:GetObject*", "s3:ListMultipartUploadParts"];

/** Days an overwritten or deleted snapshot version is kept; retention itself is the snapshot function's. */
export const NONCURRENT_DAYS = 30;
export const ABORT_MULTIPART_DAYS = 1;
/** Database dumps are kept this long (a scheduled dump a day: a month of them per database). */
export const DUMP_RETENTION_DAYS = 30;

/** Who may touch snapshots: the account's root user and the roles that read or write them. */
export function snapshotPrincipals(functions: readonly FunctionName[]): CfnValue[] {
  return [
    arn("iam", "root", { region: false }),
    ...snapshotReaders(functions).map((fn) => getAtt(Ids.functionRole(fn), "Arn")),
    // Nodes fetch a snapshot's data themselves during a restore.
    getAtt(Ids.nodeRole, "Arn"),
  ];
}

export function addStorage(t: TemplateBuilder, functions: readonly FunctionName[]): void {
  t.resource(Ids.snapshotBucket, {
    Type: "AWS::S3::Bucket",
    DeletionPolicy: "Retain",
    UpdateReplacePolicy: "Retain",
    Properties: {
      VersioningConfiguration: { Status: "Enabled" },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            ServerSideEncryptionByDefault: {
              SSEAlgorithm: "aws:kms",
              // By alias: the key's policy names the roles, whose policies name this bucket; the
              // key's ARN here would close that circle. Nothing writes before the stack is complete.
              KMSMasterKeyID: arn("kms", clusterKeyAlias(`\${${Params.clusterName}}`)),
            },
            // One data key per bucket and period instead of a KMS call per object.
            BucketKeyEnabled: true,
          },
        ],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      OwnershipControls: { Rules: [{ ObjectOwnership: "BucketOwnerEnforced" }] },
      // The file drop's page sends upload parts from the browser straight to the bucket through
      // presigned URLs, and reads each part's ETag to complete the upload.
      CorsConfiguration: {
        CorsRules: [
          {
            AllowedOrigins: [sub(`https://filedrop.\${${Params.clusterDomain}}`)],
            AllowedMethods: ["PUT"],
            AllowedHeaders: ["*"],
            ExposedHeaders: ["ETag"],
            MaxAge: 3600,
          },
        ],
      },
      LifecycleConfiguration: {
        Rules: [
          {
            Id: "expire-noncurrent-versions",
            Status: "Enabled",
            NoncurrentVersionExpiration: { NoncurrentDays: NONCURRENT_DAYS },
          },
          {
            Id: "abort-incomplete-uploads",
            Status: "Enabled",
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: ABORT_MULTIPART_DAYS },
          },
          { Id: "remove-expired-delete-markers", Status: "Enabled", ExpiredObjectDeleteMarker: true },
          {
            Id: "expire-database-dumps",
            Status: "Enabled",
            Prefix: DUMP_KEY_PREFIX,
            ExpirationInDays: DUMP_RETENTION_DAYS,
          },
          {
            // The file drop's links last at most FILEDROP_MAX_DAYS (the service answers 410 after
            // its own expiry); the files go a day after the longest, and no old version is kept.
            Id: "expire-file-drop",
            Status: "Enabled",
            Prefix: FILEDROP_KEY_PREFIX,
            ExpirationInDays: FILEDROP_MAX_DAYS + 1,
            NoncurrentVersionExpiration: { NoncurrentDays: 1 },
          },
        ],
      },
      Tags: tags({ "devcluster:cluster": ref(Params.clusterName) }),
    },
  });
  t.resource(Ids.snapshotBucketPolicy, {
    Type: "AWS::S3::BucketPolicy",
    Properties: {
      Bucket: ref(Ids.snapshotBucket),
      PolicyDocument: {
        Version: "2012-10-17",
        Statement: [
          {
            Sid: "DenyInsecureTransport",
            Effect: "Deny",
            Principal: "*",
            Action: "s3:*",
            Resource: [getAtt(Ids.snapshotBucket, "Arn"), sub(`\${${Ids.snapshotBucket}.Arn}/*`)],
            Condition: { Bool: { "aws:SecureTransport": "false" } },
          },
          {
            Sid: "DenyOtherPrincipalsWrites",
            Effect: "Deny",
            Principal: "*",
            Action: SNAPSHOT_WRITE_ACTIONS,
            Resource: sub(`\${${Ids.snapshotBucket}.Arn}/*`),
            Condition: { ArnNotEquals: { "aws:PrincipalArn": snapshotPrincipals(functions) } },
          },
          {
            Sid: "DenyOtherPrincipalsReadsButManifests",
            Effect: "Deny",
            Principal: "*",
            Action: SNAPSHOT_READ_ACTIONS,
            NotResource: sub(`\${${Ids.snapshotBucket}.Arn}/${SNAPSHOT_KEY_PREFIX}*/manifests/*`),
            Condition: { ArnNotEquals: { "aws:PrincipalArn": snapshotPrincipals(functions) } },
          },
        ],
      },
    },
  });
}
