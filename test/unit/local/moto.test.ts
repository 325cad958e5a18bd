// What the local cluster hands moto to evaluate: the deployed policies, read back and made evaluable.
import { describe, expect, it } from "vitest";
import { motoEvaluable, parsePolicyDocument } from "../../../local/moto.ts";

describe("motoEvaluable", () => {
  it("keeps S3 statements exactly (moto checks bucket and object ARNs)", () => {
    const s = {
      Effect: "Allow",
      Action: ["s3:GetObject"],
      Resource: "arn:aws:s3:::b/etcd-snapshots/dev/data/*",
    };
    expect(motoEvaluable(s)).toBe(s);
  });
  it("widens other services' resources to * and keeps their actions and conditions", () => {
    const s = {
      Effect: "Allow",
      Action: ["route53:ChangeResourceRecordSets"],
      Resource: "arn:aws:route53:::hostedzone/Z1",
      Condition: { StringEquals: { k: "v" } },
    };
    expect(motoEvaluable(s)).toEqual({ ...s, Resource: "*" });
  });
  it("names CloudWatch actions by moto's signing name too", () => {
    expect(
      motoEvaluable({ Effect: "Allow", Action: "cloudwatch:PutMetricData", Resource: "*" })?.Action,
    ).toEqual(["cloudwatch:PutMetricData", "monitoring:PutMetricData"]);
  });
  it("leaves out a scoped Deny outside S3 (widened, it would deny what allows grant elsewhere)", () => {
    const scoped = {
      Effect: "Deny",
      Action: ["ssm:GetParameter"],
      Resource: "arn:aws:ssm:r:1:parameter/x/etcd/*",
    };
    expect(motoEvaluable(scoped)).toBeUndefined();
    const everywhere = { ...scoped, Resource: "*" };
    expect(motoEvaluable(everywhere)).toEqual(everywhere);
  });
});

describe("parsePolicyDocument", () => {
  const doc = {
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Action: ["s3:GetObject"], Resource: "arn:aws:s3:::b/*" }],
  };
  it("reads IAM's URL-encoded JSON and plain JSON", () => {
    expect(parsePolicyDocument(encodeURIComponent(JSON.stringify(doc)))).toEqual(doc);
    expect(parsePolicyDocument(JSON.stringify(doc))).toEqual(doc);
  });
  it("reads the Python repr moto answers for a policy CloudFormation created", () => {
    const repr =
      "{'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': ['s3:GetObject'], 'Resource': 'arn:aws:s3:::b/*'}]}";
    expect(parsePolicyDocument(repr)).toEqual(doc);
  });
  it("refuses a repr it cannot read faithfully", () => {
    expect(() => parsePolicyDocument(`{'a': "it's"}`)).toThrow(/cannot read moto's policy document/);
  });
});
