// The rig itself: moto answers the SDK through the standard endpoint settings, enforcing IAM; etcd
// members serve.
import { execFile } from "node:child_process";
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
  // Route 53 answers moto's refusal in a shape the SDK cannot name ("Unknown"): its status says it.
  const refusedStatus = (p: Promise<unknown>) =>
    p.then(
      () => 200,
      (e: { $metadata?: { httpStatusCode?: number } }) => e.$metadata?.httpStatusCode,
    );

  it("refuses keys it never issued", async () => {
    expect(rig.moto!.iam).toBe(true);
    const r53 = new Route53Client({
      endpoint: rig.moto!.endpoint,
      region: "us-east-1",
      credentials: { accessKeyId: "AKIAUNKNOWN0000000000", secretAccessKey: "x" },
      maxAttempts: 1,
    });
    expect(await refusedStatus(r53.send(new ListHostedZonesCommand({})))).toBe(403);
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
    expect(await refusedStatus(r53.send(new ListHostedZonesCommand({})))).toBe(403);
  });

  // How a node fetches a snapshot during a restore (functions/domain/restorePlan.ts fetchScript):
  // curl signs the request (SigV4, Authorization header) with the node's role.
  const curlAs = (
    creds: { accessKeyId: string; secretAccessKey: string; sessionToken?: string },
    url: string,
  ) =>
    new Promise<number>((done) => {
      const child = execFile(
        "curl",
        [
          "-sS",
          "-o",
          "/dev/null",
          "-w",
          "%{http_code}",
          "--aws-sigv4",
          "aws:amz:eu-west-1:s3",
          "-K",
          "-",
          url,
        ],
        (_e, stdout) => done(Number(stdout)),
      );
      child.stdin!.end(
        `user = "${creds.accessKeyId}:${creds.secretAccessKey}"\n` +
          (creds.sessionToken ? `header = "x-amz-security-token: ${creds.sessionToken}"\n` : "") +
          `header = "x-amz-content-sha256: UNSIGNED-PAYLOAD"\n`,
      );
    });

  it("authenticates curl's signed requests: the signer's policy holds, a wrong secret or another prefix is refused", async () => {
    const bucket = rig.unique("curl");
    const admin = s3As();
    await admin.send(
      new CreateBucketCommand({
        Bucket: bucket,
        CreateBucketConfiguration: { LocationConstraint: "eu-west-1" },
      }),
    );
    await admin.send(new PutObjectCommand({ Bucket: bucket, Key: "data/x", Body: "snapshot" }));
    await admin.send(new PutObjectCommand({ Bucket: bucket, Key: "manifests/x", Body: "{}" }));
    const reader = await rig.roleCredentials([
      { Effect: "Allow", Action: ["s3:GetObject"], Resource: `arn:aws:s3:::${bucket}/data/*` },
    ]);
    const url = (key: string) => `${rig.moto!.endpoint}/${bucket}/${key}`;
    expect(await curlAs(reader, url("data/x"))).toBe(200);
    expect(await curlAs(reader, url("manifests/x"))).toBe(403);
    expect(await curlAs({ ...reader, secretAccessKey: `${reader.secretAccessKey}x` }, url("data/x"))).toBe(
      403,
    );
  });
});
