// A moto server (the AWS API emulator) on a loopback address, as the AWS endpoint, with IAM enforced:
// every request is signed by a known principal and its policies are evaluated, as on AWS.
import { localVolumesDir } from "./volumes.ts";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  GetRolePolicyCommand,
  IAMClient,
  ListRolePoliciesCommand,
  PutRolePolicyCommand,
  PutUserPolicyCommand,
} from "@aws-sdk/client-iam";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import { httpOk, startDetached, waitUntil, type ManagedProcess } from "./processes.ts";
import { MOTO_SERVER, PROJECT_ROOT, VENV, requireTool } from "./paths.ts";
import { DevclusterError } from "../functions/domain/errors.ts";
import { LOCAL_REGION, awsEnvFor, type AwsCredentials } from "./awsEnv.ts";

// What pointing at moto needs, without its SDK clients (kept light for the command line).
export { LOCAL_REGION, awsEnvFor, type AwsCredentials } from "./awsEnv.ts";

export interface MotoServer {
  endpoint: string;
  process: ManagedProcess;
  /** Whether moto authenticates and authorizes every request (IAM enforced). */
  iam: boolean;
  /** The administrator's keys: what an operator's own credentials are on AWS (`sls deploy`, tests' setup). */
  admin: AwsCredentials;
  /** The environment that points the AWS SDK at this server, as the administrator. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** Moto accepts any keys while IAM is off; these are not secrets. */
const ANYONE: AwsCredentials = { accessKeyId: "local", secretAccessKey: "local" };

/** The administrator's setup: CreateUser, PutUserPolicy, CreateAccessKey; moto enforces IAM after them. */
const BOOTSTRAP_CALLS = 3;
const ADMIN_USER = "devcluster-admin";

const clientOpts = (endpoint: string, credentials: AwsCredentials) => ({
  endpoint,
  region: LOCAL_REGION,
  credentials,
  maxAttempts: 1,
});

export async function startMoto(opts: {
  host: string;
  port?: number;
  dir: string;
  pidFile?: string;
  /** Enforce IAM (default). Off only to measure what enforcement costs. */
  iam?: boolean;
}): Promise<MotoServer> {
  requireTool(MOTO_SERVER, "run scripts/install-deps.sh");
  mkdirSync(opts.dir, { recursive: true });
  const iam = opts.iam ?? true;
  const port = opts.port ?? 5000;
  const endpoint = `http://${opts.host}:${port}`;
  // moto's own server, with presigned URLs authenticated (local/moto_server.py says why).
  const server = [join(PROJECT_ROOT, "local", "moto_server.py"), "-H", opts.host, "-p", String(port)];
  const proc = startDetached(join(VENV, "bin", "python"), server, {
    logFile: join(opts.dir, "moto.log"),
    pidFile: opts.pidFile,
    env: {
      ...process.env,
      MOTO_ALLOW_NONEXISTENT_REGION: "true",
      // Local EBS data (local/volumes.ts): snapshots copy a volume's directory (local/moto_server.py).
      DEVCLUSTER_EBS_DIR: localVolumesDir(opts.dir),
      // S3 objects and parts up to 128 MiB stay in memory (a local cluster's snapshots and dumps are
      // a few MiB). moto's default (5 MiB less 1 KiB) writes every 5 MiB part to a temporary file,
      // and a multipart completion then reads them back and writes the whole object to another: a
      // copy S3 does not make, 0.2 s of a 52 MiB database dump's completion (docs/BENCHMARKS.md).
      // Larger objects still go to disk; the variable, when set, wins.
      MOTO_S3_DEFAULT_KEY_BUFFER_SIZE:
        process.env.MOTO_S3_DEFAULT_KEY_BUFFER_SIZE ?? String(128 * 1024 * 1024),
      // moto evaluates IAM once this many requests were served unauthenticated: the administrator's
      // bootstrap below. Unset, moto never authenticates.
      ...(iam ? { INITIAL_NO_AUTH_ACTION_COUNT: String(BOOTSTRAP_CALLS) } : {}),
    },
  });
  await waitUntil(`moto at ${endpoint}`, () => httpOk(`${endpoint}/moto-api/`), 30_000, 100);
  try {
    const admin = iam ? await bootstrapAdmin(endpoint) : ANYONE;
    return {
      endpoint,
      process: proc,
      iam,
      admin,
      env: awsEnvFor(endpoint, admin),
      stop: () => proc.stop("SIGTERM", 3000),
    };
  } catch (e) {
    await proc.stop("SIGTERM", 3000);
    throw e;
  }
}

/** The administrator (every action), made with moto's unauthenticated first requests; then IAM holds. */
async function bootstrapAdmin(endpoint: string): Promise<AwsCredentials> {
  const iam = new IAMClient(clientOpts(endpoint, ANYONE));
  await iam.send(new CreateUserCommand({ UserName: ADMIN_USER }));
  await iam.send(
    new PutUserPolicyCommand({
      UserName: ADMIN_USER,
      PolicyName: "administrator",
      PolicyDocument: JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }],
      }),
    }),
  );
  const key = (await iam.send(new CreateAccessKeyCommand({ UserName: ADMIN_USER }))).AccessKey!;
  // From here an unknown key is refused: prove it, so a moto that ignores the setting fails loudly.
  const refused = await new STSClient(clientOpts(endpoint, ANYONE))
    .send(new AssumeRoleCommand({ RoleArn: "arn:aws:iam::123456789012:role/none", RoleSessionName: "probe" }))
    .then(
      () => false,
      () => true,
    );
  if (!refused) throw new DevclusterError(`moto at ${endpoint} does not enforce IAM`);
  return { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
}

/** Set moto's count of requests still served without authentication (`Infinity`: IAM off). */
async function setUnauthenticated(endpoint: string, count: number): Promise<void> {
  const r = await fetch(`${endpoint}/moto-api/reset-auth`, {
    method: "POST",
    body: count === Infinity ? "inf" : String(count),
  });
  if (!r.ok) throw new DevclusterError(`moto refused to change IAM enforcement: ${r.status}`);
}

/**
 * Each role's temporary credentials, as the service that runs it (Lambda, EC2) receives them.
 *
 * moto 5.2.5 cannot evaluate a trust policy whose principal is a service (its principal check fails
 * on `{"Service": ...}`), and no local caller is that service: the stand-in assumes the roles with
 * authentication suspended for these calls only, then enforcement resumes. Run it before anything
 * else talks to this moto (deploy time), never beside other callers.
 */
export async function assumeRoles(
  moto: Pick<MotoServer, "endpoint" | "iam" | "admin">,
  roleArns: Record<string, string>,
): Promise<Record<string, AwsCredentials>> {
  const out: Record<string, AwsCredentials> = {};
  if (!moto.iam) {
    for (const k of Object.keys(roleArns)) out[k] = moto.admin;
    return out;
  }
  const sts = new STSClient(clientOpts(moto.endpoint, moto.admin));
  await setUnauthenticated(moto.endpoint, Infinity);
  try {
    for (const [k, arn] of Object.entries(roleArns)) {
      const c = (
        await sts.send(
          new AssumeRoleCommand({ RoleArn: arn, RoleSessionName: `devcluster-${k}`, DurationSeconds: 43200 }),
        )
      ).Credentials!;
      out[k] = {
        accessKeyId: c.AccessKeyId!,
        secretAccessKey: c.SecretAccessKey!,
        sessionToken: c.SessionToken!,
      };
    }
  } finally {
    await setUnauthenticated(moto.endpoint, 0);
  }
  return out;
}

// A type alias (not an interface) so it is a plain JSON record.
type PolicyStatement = { Effect: string; Action: string | string[]; Resource?: unknown; Condition?: unknown };

/**
 * The statement as moto can evaluate it. moto 5.2.5 checks the action of every request, but the
 * resource only for S3 (bucket and object ARNs) and STS/IAM roles: for other services it matches
 * each statement's Resource against the literal "*", so a statement scoped to a hosted zone or an
 * instance would never allow anything. Such statements get `Resource: "*"`; their actions, and
 * every S3 statement, stay exactly as deployed (an action moto names by its signing name, CloudWatch's
 * "monitoring:", is also given under that name). Conditions need no change: moto treats a condition
 * whose key the request does not carry as met. A non-S3 Deny scoped to some resources (the node
 * role's on the etcd PKI parameters) cannot be kept: widened to "*" it would deny what the role's
 * allows grant elsewhere, so it is left out (undefined), like the scoping of the allows; the
 * template test checks it is deployed.
 */
export function motoEvaluable(s: PolicyStatement): PolicyStatement | undefined {
  const actions = Array.isArray(s.Action) ? s.Action : [s.Action];
  if (actions.every((a) => a.startsWith("s3:"))) return s;
  if (s.Effect === "Deny" && s.Resource !== "*") return undefined;
  // moto names an action by the request's signing name: CloudWatch signs as "monitoring".
  const named = actions.flatMap((a) =>
    a.startsWith("cloudwatch:") ? [a, `monitoring:${a.slice(11)}`] : [a],
  );
  return { ...s, Action: named, Resource: "*" };
}

/**
 * Rewrite a deployed role's inline policies into what moto can evaluate ({@link motoEvaluable}):
 * the local stand-in for AWS's resource-level checks, which moto lacks.
 */
export async function makeRoleEvaluable(
  moto: Pick<MotoServer, "endpoint" | "admin">,
  roleName: string,
): Promise<void> {
  const iam = new IAMClient(clientOpts(moto.endpoint, moto.admin));
  const names = (await iam.send(new ListRolePoliciesCommand({ RoleName: roleName }))).PolicyNames ?? [];
  for (const name of names) {
    const doc = (await iam.send(new GetRolePolicyCommand({ RoleName: roleName, PolicyName: name })))
      .PolicyDocument!;
    const policy = parsePolicyDocument(doc) as { Statement: PolicyStatement | PolicyStatement[] };
    const statements = Array.isArray(policy.Statement) ? policy.Statement : [policy.Statement];
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: roleName,
        PolicyName: name,
        PolicyDocument: JSON.stringify({
          ...policy,
          Statement: statements.flatMap((x) => motoEvaluable(x) ?? []),
        }),
      }),
    );
  }
}

/**
 * A role policy document as moto returns it. IAM's API URL-encodes the JSON; moto 5.2.5 keeps a
 * policy that CloudFormation created as a Python dict and answers its repr (`{'Version': ...}`), and
 * cannot evaluate such a policy itself: one more reason the local cluster rewrites them. A repr of
 * string-only values (what IAM documents hold: no quotes inside ARNs, actions or keys) reads as JSON
 * once its quotes are; anything else is refused.
 */
export function parsePolicyDocument(doc: string): unknown {
  const text = doc.startsWith("%7B") ? decodeURIComponent(doc) : doc;
  if (text.startsWith("{'")) {
    if (/\\|"/.test(text))
      throw new DevclusterError(`cannot read moto's policy document: ${text.slice(0, 80)}`);
    return JSON.parse(text.replace(/'([^']*)'/g, (_m, v: string) => JSON.stringify(v)));
  }
  return JSON.parse(text);
}
