// The local cluster's stack is the service deployed with `sls deploy` to moto, exactly as on AWS:
// the same package (built and packaged once per content and settings, then cached), the same stack,
// the same functions. What the functions were given (environment, role) is read back from moto.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { join } from "node:path";
import {
  CloudFormationClient,
  DescribeStackResourcesCommand,
  DescribeStacksCommand,
} from "@aws-sdk/client-cloudformation";
import { GetFunctionConfigurationCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { DescribeImagesCommand, EC2Client } from "@aws-sdk/client-ec2";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { GetRoleCommand, IAMClient } from "@aws-sdk/client-iam";
import { Ids } from "../../cloudformation/ids.ts";
import { DEFAULT_OPTIONS, FUNCTION_NAMES, type FunctionName } from "../../cloudformation/options.ts";
import {
  buildInto,
  mustSucceed,
  packageInputsHash,
  packageService,
  sls,
  stageService,
} from "../../scripts/serverless.ts";
import { pidAlive } from "../processes.ts";
import { DevclusterError } from "../../functions/domain/errors.ts";
import { PROJECT_ROOT } from "../paths.ts";
import {
  LOCAL_REGION,
  assumeRoles,
  makeRoleEvaluable,
  type AwsCredentials,
  type MotoServer,
} from "../moto.ts";

/** The `--param` settings a package is made with (serverless.yml `params`). */
export interface PackageSettings {
  cluster: string;
  domain: string;
  vpcCidr: string;
  mainSize: number;
  workerMin: number;
  workerMax: number;
  workerDesired: number;
  dataSize: number;
  /** The team's services the cluster runs (the stack's `services` param: all, none, or names). */
  services: string;
  /** etcd with TLS and client certificates (the stack's `etcdTls` param: "true" or "false"). */
  etcdTls: string;
}

/** Builds per content, packages per content and settings: `.build/local/{service,packages}/`. */
const CACHE = join(PROJECT_ROOT, ".build", "local");
/** osls's stack name: `<service>-<stage>`. */
export const LOCAL_STACK = "devcluster-dev";

export interface CachedPackage {
  artifact: string;
  /** The service directory it was packaged in: osls deploys a package only from there. */
  service: string;
  key: string;
  /** What this call had to do: nothing (cache hit), package, or build and package. */
  work: "none" | "package" | "build+package";
  ms: number;
}

/** A package for these settings, from the cache or made now (concurrent callers each finish safely). */
export async function cachedPackage(
  settings: PackageSettings,
  progress: (line: string) => void,
): Promise<CachedPackage> {
  const t0 = performance.now();
  const inputs = packageInputsHash();
  const params = Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, String(v)]));
  const key = `${inputs}-${createHash("sha256").update(JSON.stringify(params)).digest("hex").slice(0, 12)}`;
  const artifact = join(CACHE, "packages", key);
  const service = join(CACHE, "service", inputs);
  if (existsSync(join(artifact, "serverless-state.json")))
    return { artifact, service, key, work: "none", ms: performance.now() - t0 };

  prune(inputs);
  let work: CachedPackage["work"] = "package";
  if (!existsSync(join(service, ".build", "functions"))) {
    work = "build+package";
    progress("building the functions (esbuild; cached until the sources change)");
    const tmp = `${service}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    await buildInto(tmp);
    publish(tmp, service);
  }
  progress(`packaging the service (sls package; cached as ${key})`);
  const tmp = `${artifact}.tmp-${process.pid}`;
  await withServiceLock(service, () => packageService({ dir: stageService(service), artifact: tmp, params }));
  publish(tmp, artifact);
  return { artifact, service, key, work, ms: performance.now() - t0 };
}

/**
 * osls works in `<service>/.serverless` both when packaging and when deploying a package (it moves the
 * package there and back), so two clusters starting at once take turns in one service directory.
 */
async function withServiceLock<T>(service: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${service}.lock`;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, "pid"), String(process.pid));
      break;
    } catch {
      const holder = Number(readFileOr(join(lock, "pid")));
      if (holder && !pidAlive(holder))
        rmSync(lock, { recursive: true, force: true }); // its holder died
      else await sleep(250);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function readFileOr(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** Move a finished directory into place; if another process got there first, keep theirs. */
function publish(tmp: string, final: string) {
  mkdirSync(join(final, ".."), { recursive: true });
  try {
    renameSync(tmp, final);
  } catch {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Builds and packages made from other sources than today's are of no further use. */
function prune(inputs: string) {
  for (const sub of ["service", "packages"]) {
    const d = join(CACHE, sub);
    if (!existsSync(d)) continue;
    for (const e of readdirSync(d))
      if (!e.startsWith(inputs)) rmSync(join(d, e), { recursive: true, force: true });
  }
}

export interface DeployedFunction {
  name: string;
  role: string;
  environment: Record<string, string>;
}

export interface DeployedStack {
  outputs: Record<string, string>;
  /** Logical id → physical id, for what moto created. */
  resources: Record<string, string>;
  functions: Record<FunctionName, DeployedFunction>;
  deployMs: number;
}

/**
 * `sls deploy --package` to the moto the environment points at, then the stack and its functions
 * read back. The Flatcar image parameter is put
 * first, as an operator does once per account: one of moto's images stands in for Flatcar's.
 */
export async function deployToMoto(opts: {
  pkg: CachedPackage;
  env: Record<string, string>;
}): Promise<DeployedStack> {
  const image = (await new EC2Client({}).send(new DescribeImagesCommand({ Owners: ["amazon"] }))).Images?.[0]
    ?.ImageId;
  if (!image) throw new DevclusterError("moto offers no AMI to stand in for Flatcar");
  await new SSMClient({}).send(
    new PutParameterCommand({
      Name: DEFAULT_OPTIONS.flatcarAmiParameter,
      Value: image,
      Type: "String",
      Overwrite: true,
    }),
  );
  const r = mustSucceed(
    "sls deploy",
    await withServiceLock(opts.pkg.service, () =>
      sls(opts.pkg.service, ["deploy", "--package", opts.pkg.artifact, "--region", LOCAL_REGION], {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        ...opts.env,
        // moto completes a stack operation before it answers: poll it every 250 ms, not AWS's 5 s.
        SLS_AWS_MONITORING_FREQUENCY: "250",
      }),
    ),
  );
  return { ...(await readStack()), deployMs: r.ms };
}

/** The deployed stack as moto holds it: outputs, resources, and each function's configuration. */
export async function readStack(): Promise<Omit<DeployedStack, "deployMs">> {
  const cfn = new CloudFormationClient({});
  const stack = (await cfn.send(new DescribeStacksCommand({ StackName: LOCAL_STACK }))).Stacks![0]!;
  const outputs = Object.fromEntries((stack.Outputs ?? []).map((o) => [o.OutputKey!, o.OutputValue!]));
  const listed =
    (await cfn.send(new DescribeStackResourcesCommand({ StackName: LOCAL_STACK }))).StackResources ?? [];
  // moto lists what it skipped as entries without a logical id.
  const resources = Object.fromEntries(
    listed.filter((x) => x.LogicalResourceId).map((x) => [x.LogicalResourceId!, x.PhysicalResourceId ?? ""]),
  );
  const lambda = new LambdaClient({});
  const functions = {} as Record<FunctionName, DeployedFunction>;
  for (const fn of FUNCTION_NAMES) {
    const name = resources[`${fn.charAt(0).toUpperCase()}${fn.slice(1)}LambdaFunction`];
    if (!name) throw new DevclusterError(`the deployed stack has no ${fn} function`);
    const c = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
    // Lambda's variables are strings; moto hands a Number parameter's Ref back as a number.
    const environment = Object.fromEntries(
      Object.entries(c.Environment?.Variables ?? {}).map(([k, v]) => [k, String(v)]),
    );
    functions[fn] = { name, role: c.Role ?? "", environment };
  }
  return { outputs, resources, functions };
}

/**
 * One environment for the handlers, which the local cluster runs in one process: every deployed
 * function's variables (they share the provider's and add their own; none may disagree), without
 * NODE_OPTIONS, which is Lambda's Node command line, not this process's.
 */
export function handlerEnvironment(
  functions: Record<FunctionName, DeployedFunction>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const fn of FUNCTION_NAMES) {
    for (const [k, v] of Object.entries(functions[fn].environment)) {
      if (k === "NODE_OPTIONS") continue;
      if (k in env && env[k] !== v)
        throw new DevclusterError(`deployed functions disagree on ${k}: ${env[k]} and ${v} (${fn})`);
      env[k] = v;
    }
  }
  return env;
}

/**
 * The deployed roles' credentials, as Lambda and EC2 hand them to a function and a node: one per
 * function (its own role) and "node" (the instance profile's role). With IAM enforced, moto then
 * refuses every call a role's policy does not allow. The roles' resource-scoped statements are first
 * made evaluable by moto (`makeRoleEvaluable`: their actions unchanged).
 */
export async function deployedRoleCredentials(
  moto: MotoServer,
  stack: Omit<DeployedStack, "deployMs">,
): Promise<Record<string, AwsCredentials>> {
  const nodeRole = stack.resources[Ids.nodeRole];
  if (!nodeRole) throw new DevclusterError("the deployed stack has no node role");
  const iam = new IAMClient({});
  const arns: Record<string, string> = {
    node: (await iam.send(new GetRoleCommand({ RoleName: nodeRole }))).Role!.Arn!,
  };
  for (const fn of FUNCTION_NAMES) arns[fn] = stack.functions[fn].role;
  if (moto.iam) for (const arn of Object.values(arns)) await makeRoleEvaluable(moto, arn.split("/").pop()!);
  return assumeRoles(moto, arns);
}
