// What moto 5.2.5's CloudFormation leaves out of a stack, so tests compare a deployed stack with
// its template honestly (test/integration/cfn-moto.test.ts pins the details; cfn-lint checks these).

/** Resource types moto's CloudFormation skips with a warning (listed without a logical id). */
export const MOTO_SKIPPED_TYPES = [
  "AWS::CloudWatch::Alarm",
  "AWS::EC2::SecurityGroupEgress",
  "AWS::S3::BucketPolicy",
  "AWS::SQS::QueuePolicy",
];

type Resources = Record<string, { Type: string; Condition?: string }>;

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
