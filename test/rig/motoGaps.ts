// What moto 5.2.5's CloudFormation leaves out of a stack, so tests compare a deployed stack with
// its template honestly (test/integration/cfn-moto.test.ts pins the details; cfn-lint checks these).

/** Resource types moto's CloudFormation skips with a warning (listed without a logical id). */
export const MOTO_SKIPPED_TYPES = [
  "AWS::CloudWatch::Alarm",
  // No Cognito model at all: the local cluster makes the same pool through cognito-idp.
  "AWS::Cognito::UserPool",
  "AWS::Cognito::UserPoolClient",
  "AWS::Cognito::UserPoolGroup",
  "AWS::EC2::SecurityGroupEgress",
  "AWS::S3::BucketPolicy",
  "AWS::SQS::QueuePolicy",
];

type Resources = Record<string, { Type: string; Condition?: string }>;
type Outputs = Record<string, { Value?: unknown; Condition?: string }>;

/**
 * The logical ids a stack made from these resources has in moto: all but the skipped types and the
 * resources under a condition (the packaged stack's only ones, the front door's, need a public zone).
 */
export function expectedOnMoto(resources: Resources): string[] {
  return Object.entries(resources)
    .filter(([, r]) => !r.Condition && !MOTO_SKIPPED_TYPES.includes(r.Type))
    .map(([id]) => id)
    .sort();
}

/** The logical ids an output's value refers to (Ref and Fn::GetAtt, at any depth). */
function referenced(v: unknown): string[] {
  if (Array.isArray(v)) return v.flatMap(referenced);
  if (!v || typeof v !== "object") return [];
  const o = v as Record<string, unknown>;
  if (typeof o.Ref === "string") return [o.Ref];
  const att = o["Fn::GetAtt"];
  if (Array.isArray(att) && typeof att[0] === "string") return [att[0]];
  return Object.values(o).flatMap(referenced);
}

/**
 * The outputs such a stack has in moto: all but those under a condition and those whose value refers
 * to a resource moto left out (it drops such an output rather than fail the stack).
 */
export function expectedOutputsOnMoto(t: { Resources: Resources; Outputs: Outputs }): string[] {
  const made = new Set(expectedOnMoto(t.Resources));
  return Object.entries(t.Outputs)
    .filter(
      ([, o]) => !o.Condition && referenced(o.Value).every((id) => made.has(id) || !(id in t.Resources)),
    )
    .map(([k]) => k)
    .sort();
}
