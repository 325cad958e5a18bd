/* global module, __filename */
// serverless.yml: `resources: ${file(./cloudformation/serverless-resources.cjs)}`.
// osls's `file` source `require`s .js/.cjs files only and calls an exported function with
// { options, resolveVariable, resolveConfigurationProperty }; this shim loads the TypeScript
// generator through tsx (a devDependency) and fills the options from the service's own settings.
"use strict";

module.exports = async ({ options, resolveVariable, resolveConfigurationProperty }) => {
  const { tsImport } = await import("tsx/esm/api");
  const { serverlessResources } = await tsImport("./serverless-resources.ts", __filename);
  const service = await resolveConfigurationProperty(["service"]);
  const stage = options.stage || (await resolveVariable("sls:stage"));
  const region = options.region || (await resolveConfigurationProperty(["provider", "region"])) || undefined;
  const functions = (await resolveConfigurationProperty(["functions"])) || {};
  const custom = (await resolveConfigurationProperty(["custom", "devcluster"])) || {};
  try {
    return serverlessResources({
      ...custom,
      service,
      stage,
      ...(region ? { region } : {}),
      declaredFunctions: Object.keys(functions),
    });
  } catch (e) {
    // Bad settings are the user's to fix: osls prints an error's stack, and this one's says nothing more.
    if (e && e.name === "InvalidInputError") e.stack = `${e.name}: ${e.message}`;
    throw e;
  }
};
