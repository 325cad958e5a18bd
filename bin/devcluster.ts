#!/usr/bin/env -S npx tsx
// devcluster's command line: the template (synth, validate), the Lambda package, and the local cluster.
import { parseArgs } from "node:util";
import { DevclusterError } from "../functions/domain/errors.ts";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const USAGE = `usage: devcluster <command> [options]

  synth [--out FILE] [--cluster NAME] [--domain NAME] [--region R] [--main-size N]
                              print (or write) the cluster's CloudFormation template
  validate [same options]     synthesise and check the template with cfn-lint
  local <subcommand>          run the whole control plane on this machine (see 'devcluster local help')
`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case "synth":
    case "validate":
      return templateCommand(cmd, rest);
    case "local": {
      const { localCommand } = await import("../local/cluster/cli.ts");
      return localCommand(rest);
    }
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      process.stderr.write(`devcluster: unknown command '${cmd}'\n${USAGE}`);
      return 2;
  }
}

async function templateCommand(cmd: "synth" | "validate", args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      out: { type: "string" },
      cluster: { type: "string" },
      domain: { type: "string" },
      region: { type: "string" },
      "main-size": { type: "string" },
    },
    strict: true,
  });
  const { synth, validate, formatFindings } = await import("../cloudformation/cli.ts");
  const options = {
    ...(values.cluster ? { clusterName: values.cluster } : {}),
    ...(values.domain ? { clusterDomain: values.domain } : {}),
    ...(values.region ? { region: values.region } : {}),
    ...(values["main-size"] ? { mainSize: Number(values["main-size"]) } : {}),
  };
  const result = synth(options, cmd === "synth" ? values.out : undefined);
  if (cmd === "synth") {
    if (!values.out) process.stdout.write(result.json);
    else process.stderr.write(`wrote ${result.path} (${result.json.length} bytes)\n`);
    return 0;
  }
  const t0 = performance.now();
  const report = await validate(result.template, values.region ? { region: values.region } : {});
  for (const line of formatFindings(report)) process.stdout.write(line + "\n");
  const resources = Object.keys(result.template.Resources ?? {}).length;
  process.stdout.write(
    `cfn-lint: ${report.errors.length} errors, ${report.warnings.length} warnings ` +
      `(${resources} resources, ${result.json.length} bytes, ${Math.round(performance.now() - t0)} ms)\n`,
  );
  return report.ok ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    // A user error (bad input, a refused request) is printed without a stack; so is a bad command line
    // (node:util parseArgs throws TypeError with an ERR_PARSE_ARGS_* code).
    const parseArgsError = e instanceof Error && "code" in e && String(e.code).startsWith("ERR_PARSE_ARGS");
    if ((e instanceof DevclusterError && e.source === "user") || parseArgsError) {
      process.stderr.write(`devcluster: ${e.message}\n`);
    } else {
      process.stderr.write(`devcluster: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    }
    process.exit(1);
  },
);
