// What points the AWS SDK at the local cluster's moto server: its region and an environment for a
// principal's keys. Apart from moto.ts (which holds the IAM and STS clients), so a command that only
// reads the cluster loads no SDK client it does not use.

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export const LOCAL_REGION = "eu-west-1";

export function awsEnvFor(endpoint: string, creds: AwsCredentials): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: LOCAL_REGION,
    AWS_DEFAULT_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: creds.accessKeyId,
    AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
    ...(creds.sessionToken ? { AWS_SESSION_TOKEN: creds.sessionToken } : {}),
    S3_FORCE_PATH_STYLE: "true",
    AWS_NODEJS_CONNECTION_REUSE_ENABLED: "1",
  };
}
