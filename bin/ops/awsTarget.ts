// The operator's commands against a deployed stack, with the operator's own AWS credentials: the
// stack's functions through Lambda Invoke (status reads etcd from inside the VPC; this machine never
// reaches etcd), node scripts through SSM Run Command, a shell through SSM Session Manager, the
// control plane's events from the functions' log groups in CloudWatch Logs.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import {
  CloudFormationClient,
  DescribeStackResourcesCommand,
  DescribeStacksCommand,
} from "@aws-sdk/client-cloudformation";
import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { SSMClient, StartSessionCommand } from "@aws-sdk/client-ssm";
import { z } from "zod";
import { FUNCTION_NAMES, type FunctionName } from "../../cloudformation/options.ts";
import { Params } from "../../cloudformation/ids.ts";
import * as errors from "../../functions/domain/errors.ts";
import { createSsmCommands } from "../../functions/adapters/aws/ssmCommands.ts";
import type { OpsTarget } from "./target.ts";
import { logGroupOf, readCloudWatchEvents } from "./cloudWatchEvents.ts";

export interface StackChoice {
  stack: string;
  region: string;
}

const ProfilesFile = z.object({
  profiles: z.record(z.string(), z.object({ stack: z.string().min(1), region: z.string().min(1) })),
});

/** Where profiles live: $DEVCLUSTER_CONFIG, else ~/.config/devcluster/config.json. */
export const configPath = () =>
  process.env.DEVCLUSTER_CONFIG ?? join(homedir(), ".config", "devcluster", "config.json");

/** --stack/--region, or a profile's; the region may also come from AWS_REGION. */
export function resolveProfile(choice: { stack?: string; region?: string; profile?: string }): StackChoice {
  let stack = choice.stack;
  let region = choice.region;
  if (choice.profile) {
    const file = configPath();
    if (!existsSync(file))
      throw new errors.NotFoundError(`--profile ${choice.profile}: no config file at ${file}`);
    let parsed;
    try {
      parsed = ProfilesFile.safeParse(JSON.parse(readFileSync(file, "utf8")));
    } catch (e) {
      throw new errors.InvalidInputError(`${file} is not JSON (${(e as Error).message})`);
    }
    if (!parsed.success)
      throw new errors.InvalidInputError(
        `${file} is not a devcluster config ({"profiles": {"<name>": {"stack": ..., "region": ...}}})`,
        errors.formatIssues(parsed.error.issues),
      );
    const p = parsed.data.profiles[choice.profile];
    if (!p)
      throw new errors.NotFoundError(
        `no profile ${choice.profile} in ${file} (it has: ${Object.keys(parsed.data.profiles).join(", ") || "none"})`,
      );
    stack ??= p.stack;
    region ??= p.region;
  }
  region ??= process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (!stack) throw new errors.InvalidInputError("name the stack: --stack NAME (or --profile NAME)");
  if (!region)
    throw new errors.InvalidInputError(`--stack ${stack}: name its region with --region (or AWS_REGION)`);
  return { stack, region };
}

const logicalIdOf = (fn: FunctionName) => `${fn.charAt(0).toUpperCase()}${fn.slice(1)}LambdaFunction`;

/** The error a function threw, by its class name (Lambda hands it back as errorType/errorMessage). */
export function functionError(fn: string, payload: string): Error {
  let body: { errorType?: string; errorMessage?: string } = {};
  try {
    body = JSON.parse(payload) as typeof body;
  } catch {
    body = { errorMessage: payload };
  }
  const Known = body.errorType ? (errors as Record<string, unknown>)[body.errorType] : undefined;
  const message = `${fn}: ${body.errorMessage ?? "failed"}`;
  if (typeof Known === "function" && Known.prototype instanceof errors.DevclusterError) {
    const e = new (Known as new (m: string) => Error)(message);
    e.message = message;
    return e;
  }
  return new errors.DevclusterError(`${message}${body.errorType ? ` (${body.errorType})` : ""}`);
}

/**
 * The arguments session-manager-plugin takes (as the AWS CLI passes them): StartSession's response,
 * the region, the operation, a profile (empty), the request and the SSM endpoint.
 */
export function sessionPluginArgs(
  response: { SessionId?: string; StreamUrl?: string; TokenValue?: string },
  region: string,
  target: string,
  endpoint: string,
): string[] {
  return [
    JSON.stringify({
      SessionId: response.SessionId,
      StreamUrl: response.StreamUrl,
      TokenValue: response.TokenValue,
    }),
    region,
    "StartSession",
    "",
    JSON.stringify({ Target: target }),
    endpoint,
  ];
}

/** Calls a deployed function by its physical name; Lambda's Invoke by default. */
export type FunctionInvoker = (functionName: string, fn: FunctionName, payload: unknown) => Promise<unknown>;

/** Lambda Invoke (RequestResponse): the function's JSON answer, or the error it threw, by class. */
export function lambdaInvoker(lambda: LambdaClient): FunctionInvoker {
  return async (functionName, fn, payload) => {
    const res = await lambda.send(
      new InvokeCommand({
        FunctionName: functionName,
        Payload: new TextEncoder().encode(JSON.stringify(payload)),
      }),
    );
    const text = res.Payload ? new TextDecoder().decode(res.Payload) : "null";
    if (res.FunctionError) throw functionError(fn, text);
    return JSON.parse(text) as unknown;
  };
}

export async function awsOpsTarget(
  choice: StackChoice,
  over: { invoker?: FunctionInvoker } = {},
): Promise<OpsTarget> {
  const { stack, region } = choice;
  const cfn = new CloudFormationClient({ region });
  let described;
  try {
    described = await cfn.send(new DescribeStacksCommand({ StackName: stack }));
  } catch (e) {
    // CloudFormation answers a missing stack with a ValidationError that says so.
    if (e instanceof Error && e.name === "ValidationError" && /does not exist/.test(e.message))
      throw new errors.NotFoundError(`no stack ${stack} in ${region}; nothing was changed`);
    throw e;
  }
  const s = described.Stacks?.[0];
  if (!s || s.StackStatus === "DELETE_COMPLETE")
    throw new errors.NotFoundError(`no stack ${stack} in ${region}; nothing was changed`);
  const cluster = s.Parameters?.find((p) => p.ParameterKey === Params.clusterName)?.ParameterValue ?? stack;
  // A stack deployed before the setting existed runs none of the team's services.
  const services = s.Parameters?.find((p) => p.ParameterKey === Params.services)?.ParameterValue ?? "none";
  const resources = new Map(
    ((await cfn.send(new DescribeStackResourcesCommand({ StackName: stack }))).StackResources ?? []).map(
      (r) => [r.LogicalResourceId!, r.PhysicalResourceId!],
    ),
  );
  const lambda = new LambdaClient({ region });
  const invoker = over.invoker ?? lambdaInvoker(lambda);
  const ssm = new SSMClient({ region, maxAttempts: 5 });
  const logs = new CloudWatchLogsClient({ region, maxAttempts: 3 });
  const groups = FUNCTION_NAMES.flatMap((fn) => {
    const name = resources.get(logicalIdOf(fn));
    return name ? [logGroupOf(name)] : [];
  });
  return {
    describe: `stack ${stack} (${region})`,
    cluster,
    services,
    async invoke(fn, payload) {
      const name = resources.get(logicalIdOf(fn));
      if (!name)
        throw new errors.NotFoundError(
          `stack ${stack} has no ${fn} function (deployed before it existed? 'sls deploy' adds it)`,
        );
      return invoker(name, fn, payload);
    },
    commands: createSsmCommands({ ssm }),
    async shell(instanceId) {
      const res = await ssm.send(new StartSessionCommand({ Target: instanceId }));
      const endpoint = (await ssm.config.endpoint?.())?.hostname;
      const args = sessionPluginArgs(
        res,
        region,
        instanceId,
        endpoint ? `https://${endpoint}` : `https://ssm.${region}.amazonaws.com`,
      );
      return new Promise((resolve, reject) => {
        const child = spawn("session-manager-plugin", args, { stdio: "inherit" });
        child.on("error", (e: NodeJS.ErrnoException) =>
          reject(
            e.code === "ENOENT"
              ? new errors.NotFoundError(
                  "ssh needs AWS's session-manager-plugin on this machine (docs/OPERATIONS.md says how to install it)",
                )
              : e,
          ),
        );
        child.on("exit", (code) => resolve(code ?? 1));
      });
    },
    recentEvents: (limit) => readCloudWatchEvents(logs, groups, limit),
    close: async () => {
      cfn.destroy();
      logs.destroy();
      lambda.destroy();
      ssm.destroy();
    },
  };
}
