// What serverless.yml's `resources:` merges into the packaged stack: the cluster template's
// Parameters, Mappings, Conditions, Resources and Outputs, with event targets for the functions
// the service declares. Loaded through serverless-resources.cjs (osls only `require`s .js/.cjs).
import { buildTemplate } from "./template.ts";
import { FUNCTION_NAMES, type FunctionName, type SynthOptions } from "./options.ts";
import type { Template } from "./cfn.ts";

export type ServerlessResources = Pick<
  Template,
  "Parameters" | "Mappings" | "Conditions" | "Resources" | "Outputs"
>;

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
  };
}
