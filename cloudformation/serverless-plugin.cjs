/* global module, __filename */
// The service's own osls plugin (serverless.yml `plugins:`): `sls deploy` checks the account's
// prerequisites before the framework creates anything, and `sls remove` says which bucket it keeps.
// CommonJS because osls `require`s plugins; the checks live in prerequisites.ts (loaded with tsx).
"use strict";

class DevclusterPlugin {
  constructor(serverless, _options, { log } = {}) {
    this.serverless = serverless;
    this.provider = serverless.getProvider("aws");
    this.log = log;
    this.hooks = {
      // Runs after the framework restored the packaged state and before `deploy:deploy`, whose
      // first step creates the deployment bucket's stack.
      "before:deploy:deploy": () => this.checkPrerequisites(),
      "before:remove:remove": () => this.announceKeptBucket(),
    };
  }

  /** The packaged template's parameters: the compiled template, else the packaged file. */
  async parameterDecls() {
    const { readFileSync, existsSync } = await import("node:fs");
    const { join } = await import("node:path");
    const compiled = this.serverless.service.provider.compiledCloudFormationTemplate;
    if (compiled && compiled.Parameters) return compiled.Parameters;
    const file = join(this.serverless.serviceDir, ".serverless", "cloudformation-template-update-stack.json");
    return existsSync(file) ? JSON.parse(readFileSync(file, "utf8")).Parameters || {} : {};
  }

  async checkPrerequisites() {
    const { tsImport } = await import("tsx/esm/api");
    const { unmetPrerequisites, unmetMessage, effectiveParameters, sdkAccount } = await tsImport(
      "./prerequisites.ts",
      __filename,
    );
    const region = this.provider.getRegion();
    // With `--package`, stackParameters are the packaged ones (osls restores the packaged service).
    const parameters = effectiveParameters(
      await this.parameterDecls(),
      this.serverless.service.provider.stackParameters || [],
    );
    const account = sdkAccount(await this.provider.getAwsSdkV3Config());
    const issues = await unmetPrerequisites({ region, parameters, account });
    // A user error: the framework prints it without a stack trace.
    if (issues.length)
      throw new this.serverless.classes.Error(unmetMessage(region, issues), "DEVCLUSTER_PREREQUISITES");
  }

  async announceKeptBucket() {
    const { DescribeStacksCommand } = await import("@aws-sdk/client-cloudformation");
    const cfn = await this.provider.getCloudFormationClient();
    let bucket;
    try {
      const stack = (
        await cfn.send(new DescribeStacksCommand({ StackName: this.provider.naming.getStackName() }))
      ).Stacks[0];
      bucket = (stack.Outputs || []).find((o) => o.OutputKey === "SnapshotBucketName");
    } catch {
      return; // no stack: the framework says so itself
    }
    if (!bucket) return;
    this.log.notice(
      `The snapshot bucket ${bucket.OutputValue} stays: it is retained on purpose, its snapshots are ` +
        `how a lost cluster comes back. Delete it by hand once nothing needs them ` +
        `(empty every object version first, then: aws s3api delete-bucket --bucket ${bucket.OutputValue}).`,
    );
  }
}

module.exports = DevclusterPlugin;
