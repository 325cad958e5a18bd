// The rig itself: moto answers the SDK through the standard endpoint settings, enforcing IAM; etcd
// members serve.
import { describe, expect, it } from "vitest";
import { Etcd3 } from "etcd3";
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { ListHostedZonesCommand, Route53Client } from "@aws-sdk/client-route-53";
import { s3SnapshotStore } from "../../functions/adapters/aws/s3Snapshots.ts";
import type { AwsCredentials } from "../../local/moto.ts";
import { createAwsClients } from "../../functions/adapters/aws/clients.ts";
import { useRig } from "../rig/index.ts";

const rig = useRig({ moto: true, etcdMembers: 3 });

describe("test rig", () => {
  it("points the AWS SDK at moto through AWS_ENDPOINT_URL only", async () => {
    expect(process.env.AWS_ENDPOINT_URL).toBe(rig.moto!.endpoint);
    expect(rig.moto!.endpoint).toMatch(/^http:\/\/127\.\d+\.\d+\.1:5000$/);
    const { s3 } = createAwsClients();
    const bucket = rig.unique("rig");
    await s3.send(
      new CreateBucketCommand({
        Bucket: bucket,
        CreateBucketConfiguration: { LocationConstraint: "eu-west-1" },
      }),
    );
    const list = await s3.send(new ListBucketsCommand({}));
    expect(list.Buckets?.map((b) => b.Name)).toContain(bucket);
  });

  it("runs a real 3-member etcd cluster on loopback addresses", async () => {
    const client = new Etcd3({ hosts: rig.etcd!.endpoints });
    try {
      const members = await client.cluster.memberList({});
      expect(members.members).toHaveLength(3);
      for (const m of members.members) expect(m.clientURLs[0]).toMatch(/^http:\/\/127\./);
      await client.put("/rig/k").value("v");
      expect(await client.get("/rig/k").string()).toBe("v");
    } finally {
      client.close();
    }
  });
});

describe("test rig: moto enforces IAM", () => {
  const s3As = (credentials?: AwsCredentials) =>
    new S3Client({
      endpoint: rig.moto!.endpoint,
      region: "eu-west-1",
      forcePathStyle: true,
      maxAttempts: 1,
      ...(credentials ? { credentials } : {}),
    });
  const denied = (p: Promise<unknown>) =>
    p.then(
      () => "allowed",
      (e: { name?: string }) => e.name,
    );

  it("refuses keys it never issued", async () => {
    expect(rig.moto!.iam).toBe(true);
    const r53 = new Route53Client({
      endpoint: rig.moto!.endpoint,
      region: "us-east-1",
      credentials: { accessKeyId: "AKIAUNKNOWN0000000000", secretAccessKey: "x" },
      maxAttempts: 1,
    });
    expect(await denied(r53.send(new ListHostedZonesCommand({})))).toBe("InvalidClientTokenId");
  });

  it("evaluates a role's policy: S3 actions and object prefixes, other services' actions", async () => {
    const bucket = rig.unique("iam");
    const admin = s3As();
    await admin.send(
      new CreateBucketCommand({
        Bucket: bucket,
        CreateBucketConfiguration: { LocationConstraint: "eu-west-1" },
      }),
    );
    for (const key of ["a/x", "b/x"])
      await admin.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }));
    const creds = await rig.roleCredentials([
      { Effect: "Allow", Action: ["s3:GetObject"], Resource: `arn:aws:s3:::${bucket}/a/*` },
      { Effect: "Allow", Action: ["s3:ListBucket"], Resource: `arn:aws:s3:::${bucket}` },
      {
        Effect: "Allow",
        Action: ["route53:ListResourceRecordSets"],
        Resource: "arn:aws:route53:::hostedzone/Z1",
      },
    ]);
    const s3 = s3As(creds);
    expect(
      await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "a/x" }))).Body!.transformToString(),
    ).toBe("a/x");
    expect((await s3.send(new ListObjectsV2Command({ Bucket: bucket }))).KeyCount).toBe(2);
    // Another prefix, another action: refused, and nothing written.
    expect(await denied(s3.send(new GetObjectCommand({ Bucket: bucket, Key: "b/x" })))).toBe("AccessDenied");
    expect(await denied(s3.send(new PutObjectCommand({ Bucket: bucket, Key: "a/y", Body: "y" })))).toBe(
      "AccessDenied",
    );
    expect((await admin.send(new ListObjectsV2Command({ Bucket: bucket }))).KeyCount).toBe(2);
    // Outside S3 moto checks the action (not the resource: see local/moto.ts motoEvaluable).
    const r53 = new Route53Client({
      endpoint: rig.moto!.endpoint,
      region: "us-east-1",
      credentials: creds,
      maxAttempts: 1,
    });
    expect(await denied(r53.send(new ListHostedZonesCommand({})))).toBe("AccessDenied");
  });

  // How restore hands a snapshot to the nodes: the functions' own presigner.
  const presign = (s3: S3Client, bucket: string) =>
    s3SnapshotStore(s3, bucket, { prefix: "", cluster: "c" }).presignGet("data/x", 60);

  it("authenticates presigned URLs: the signer's policy holds, a tampered or foreign signature is refused", async () => {
    const bucket = rig.unique("presign");
    const admin = s3As();
    await admin.send(
      new CreateBucketCommand({
        Bucket: bucket,
        CreateBucketConfiguration: { LocationConstraint: "eu-west-1" },
      }),
    );
    await admin.send(new PutObjectCommand({ Bucket: bucket, Key: "data/x", Body: "snapshot" }));
    const reader = s3As(
      await rig.roleCredentials([
        { Effect: "Allow", Action: ["s3:GetObject"], Resource: `arn:aws:s3:::${bucket}/data/*` },
      ]),
    );
    const other = s3As(
      await rig.roleCredentials([
        { Effect: "Allow", Action: ["s3:PutObject"], Resource: `arn:aws:s3:::${bucket}/*` },
      ]),
    );
    const url = await presign(reader, bucket);
    const ok = await fetch(url);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe("snapshot");
    const tampered = url.replace(
      /X-Amz-Signature=([0-9a-f])/,
      (_m: string, c: string) => `X-Amz-Signature=${c === "0" ? "1" : "0"}`,
    );
    expect((await fetch(tampered)).status).toBe(403);
    const foreign = await presign(other, bucket);
    expect((await fetch(foreign)).status).toBe(403);
  });
});
