// devcluster's command line: the template (synth, validate), the local cluster, and operating a
// cluster (local or deployed: machines, units, journal, restart, restore, ...).
import { DevclusterError, InvalidInputError } from "../functions/domain/errors.ts";
import { didYouMean, parse } from "./args.ts";
import { OPS_SUBS, OPS_USAGE } from "./ops/commands.ts";
import { hideIpServerNameWarning } from "../local/nodeWarnings.ts";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
hideIpServerNameWarning();

const USAGE = `usage: npx devcluster <command> [options]   ('<command> --help' for each)

  synth [--out FILE] [--cluster NAME] [--domain NAME] [--region R] [--main-size N]
                              print (or write) the cluster's CloudFormation template
  validate [same options]     synthesise and check the template with cfn-lint
  users <subcommand>          accounts of the user pool: list, add, remove, group (see 'npx devcluster users --help')
  app new <name> --image REF --port N [...]
                              an ad-hoc app as a catalog unit (see 'npx devcluster app --help')
  local <subcommand>          run the whole control plane on this machine (see 'npx devcluster local --help')

${OPS_USAGE}
Exit codes: 0 done, 1 failed (or: unhealthy, blocked; see each command), 2 bad usage.
`;

const TEMPLATE_USAGE = (
  cmd: string,
) => `usage: npx devcluster ${cmd} [--out FILE] [--cluster NAME] [--domain NAME] [--region R] [--main-size N]
  ${cmd === "synth" ? "print the CloudFormation template on stdout (or write it to --out FILE)" : "synthesise the template and check it with cfn-lint; exit 1 on an error"}
  --main-size N   main group size: odd, 3 to 9
`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case "synth":
    case "validate":
      return templateCommand(cmd, rest);
    case "users": {
      const { usersCommand } = await import("./users.ts");
      return usersCommand(rest);
    }
    case "app": {
      const { appCommand } = await import("./app.ts");
      return appCommand(rest);
    }
    case "local": {
      const { localCommand } = await import("../local/cluster/cli.ts");
      return localCommand(rest);
    }
    case undefined:
      process.stdout.write(USAGE);
      return 2;
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE);
      return 0;
    default: {
      if (Object.hasOwn(OPS_SUBS, cmd)) {
        const { opsCommand } = await import("./ops/cli.ts");
        return opsCommand(cmd, rest);
      }
      throw new InvalidInputError(
        `unknown command '${cmd}'${didYouMean(cmd, ["synth", "validate", "users", "app", "local", "help", ...Object.keys(OPS_SUBS)])}; 'npx devcluster --help' lists them`,
      );
    }
  }
}

async function templateCommand(cmd: "synth" | "validate", args: string[]): Promise<number> {
  const { values } = parse(
    cmd,
    args,
    {
      out: { type: "string" },
      cluster: { type: "string" },
      domain: { type: "string" },
      region: { type: "string" },
      "main-size": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    0,
  );
  if (values.help) {
    process.stdout.write(TEMPLATE_USAGE(cmd));
    return 0;
  }
  if (values["main-size"] !== undefined && !/^\d+$/.test(values["main-size"])) {
    throw new InvalidInputError(`${cmd}: --main-size must be a whole number (got '${values["main-size"]}')`);
  }
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
    if (e instanceof InvalidInputError) {
      // Every issue on its own line (a catalog's `file:line: reason` list reads like a compiler's).
      process.stderr.write(
        e.issues.length > 1
          ? `devcluster: ${e.summary}:\n${e.issues.map((i) => `  ${i}\n`).join("")}`
          : `devcluster: ${e.message}\n`,
      );
      process.exit(2);
    }
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
