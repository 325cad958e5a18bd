// The snapshot bucket: versioned, encrypted (SSE-S3: no key to manage or pay for; the bucket
// policy, not a key policy, is the access boundary), never public, TLS only, and kept when the
// stack goes (snapshots are how a lost cluster comes back).
import { getAtt, ref, sub, tags, type TemplateBuilder } from "../cfn.ts";
import { Ids, Params } from "../ids.ts";

/** Days an overwritten or deleted snapshot version is kept; retention itself is the snapshot function's. */
export const NONCURRENT_DAYS = 30;
export const ABORT_MULTIPART_DAYS = 1;

export function addStorage(t: TemplateBuilder): void {
  t.resource(Ids.snapshotBucket, {
    Type: "AWS::S3::Bucket",
    DeletionPolicy: "Retain",
    UpdateReplacePolicy: "Retain",
    Properties: {
      VersioningConfiguration: { Status: "Enabled" },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          { ServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" }, BucketKeyEnabled: true },
        ],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      OwnershipControls: { Rules: [{ ObjectOwnership: "BucketOwnerEnforced" }] },
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
        ],
      },
    },
  });
}
