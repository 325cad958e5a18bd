// What serverless.yml's `resources:` merges into the packaged stack: the cluster template's
// Parameters, Mappings, Conditions, Resources and Outputs, with event targets for the functions
// the service declares. Loaded through serverless-resources.cjs (osls only `require`s .js/.cjs).
import { buildTemplate } from "./template.ts";
import { FUNCTION_NAMES, type FunctionName, type SynthOptions } from "./options.ts";
import type { Template } from "./cfn.ts";

export type ServerlessResources = Pick<
  Template,
  "Parameters" | "Mappings" | "Conditions" | "Resources" | "Outputs"
> & {
  /** osls `resources.extensions`: attributes set on resources the framework itself generates. */
  extensions: Record<string, Record<string, unknown>>;
};

/**
 * What the framework generates, made to pass cfn-lint with no finding (informational included),
 * as the cluster's own resources do: each function's log group states its deletion policy (logs go
 * with the stack; cfn-lint I3011 asks stateful resources to say so), and the deployment bucket's
 * TLS-only policy is the framework's own statement written with Fn::Sub (I1022).
 */
function frameworkExtensions(functions: readonly string[]): ServerlessResources["extensions"] {
  const extensions: ServerlessResources["extensions"] = {};
  for (const fn of functions) {
    extensions[`${fn.charAt(0).toUpperCase()}${fn.slice(1)}LogGroup`] = {
      DeletionPolicy: "Delete",
      UpdateReplacePolicy: "Delete",
    };
  }
  extensions.ServerlessDeploymentBucketPolicy = {
    Properties: {
      PolicyDocument: {
        Statement: [
          {
            Action: "s3:*",
            Effect: "Deny",
            Principal: "*",
            Resource: [
              { "Fn::Sub": "arn:${AWS::Partition}:s3:::${ServerlessDeploymentBucket}/*" },
              { "Fn::Sub": "arn:${AWS::Partition}:s3:::${ServerlessDeploymentBucket}" },
            ],
            Condition: { Bool: { "aws:SecureTransport": false } },
          },
        ],
      },
    },
  };
  return extensions;
}

export function serverlessResources(
  options: Partial<SynthOptions> & { declaredFunctions: readonly string[] },
): ServerlessResources {
  const { declaredFunctions, ...rest } = options;
  // Only functions the service declares get targets: a rule aimed at a missing function would
  // break the package.
  const functionsInTemplate = FUNCTION_NAMES.filter((fn: FunctionName) => declaredFunctions.includes(fn));
  const t = buildTemplate({ ...rest, functionsInTemplate });
  return {
    Parameters: t.Parameters,
    Mappings: t.Mappings,
    Conditions: t.Conditions,
    Resources: t.Resources,
    Outputs: t.Outputs,
    extensions: frameworkExtensions(declaredFunctions),
  };
}
