// The rig itself: moto answers the SDK through the standard endpoint settings; etcd members serve.
import { describe, expect, it } from "vitest";
import { Etcd3 } from "etcd3";
import { CreateBucketCommand, ListBucketsCommand } from "@aws-sdk/client-s3";
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
