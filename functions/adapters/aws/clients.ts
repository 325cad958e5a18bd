// AWS SDK v3 clients, created once per container and reused across warm invocations.
// Endpoints come from the SDK's standard settings (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>),
// so local mode changes configuration, never code.
import { AutoScalingClient } from "@aws-sdk/client-auto-scaling";
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { EC2Client } from "@aws-sdk/client-ec2";
import { Route53Client } from "@aws-sdk/client-route-53";
import { S3Client } from "@aws-sdk/client-s3";
import { SSMClient } from "@aws-sdk/client-ssm";

export interface AwsClients {
  autoscaling: AutoScalingClient;
  ec2: EC2Client;
  route53: Route53Client;
  s3: S3Client;
  ssm: SSMClient;
  cloudwatch: CloudWatchClient;
}

export function createAwsClients(env: NodeJS.ProcessEnv = process.env): AwsClients {
  const common = { maxAttempts: 5 };
  return {
    autoscaling: new AutoScalingClient(common),
    ec2: new EC2Client(common),
    route53: new Route53Client(common),
    // Path-style addressing is a standard S3 setting; an endpoint on an IP address needs it.
    s3: new S3Client({ ...common, forcePathStyle: env.S3_FORCE_PATH_STYLE === "true" }),
    ssm: new SSMClient(common),
    cloudwatch: new CloudWatchClient(common),
  };
}

let shared: AwsClients | undefined;
/** The container's clients, made on first use. */
export function awsClients(): AwsClients {
  return (shared ??= createAwsClients());
}
