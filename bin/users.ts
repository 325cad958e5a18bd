// `devcluster users ...`: accounts in the cluster's user pool, the same code against a deployed
// stack (the standard AWS settings; the pool from the stack's outputs or --pool-id) and the local
// cluster (--local: its moto and its pool).
import { readFileSync } from "node:fs";
import { CognitoIdentityProviderClient } from "@aws-sdk/client-cognito-identity-provider";
import { SSMClient } from "@aws-sdk/client-ssm";
import { CloudFormationClient, DescribeStacksCommand } from "@aws-sdk/client-cloudformation";
import { InvalidInputError, NotFoundError } from "../functions/domain/errors.ts";
import { cognitoUserDirectory } from "../functions/adapters/aws/cognitoUsers.ts";
import { ensureSessionKey } from "../functions/adapters/aws/ssmSessionKey.ts";
import { addUser, listUsers, removeUser, setGroup } from "../functions/operations/users.ts";
import { didYouMean, parse } from "./args.ts";

export const USERS_USAGE = `usage: npx devcluster users <subcommand> [--local | --pool-id ID | --stack NAME] [--json]

  list                                  every user with status and groups
  add <name> [--email E] [--password-stdin] [--group G ...]
                                        create a user (the pool mails a temporary password to --email;
                                        --password-stdin sets a permanent one read from stdin), in groups
  remove <name>                         delete a user
  group add|remove <name> <group>       add a user to a group, or take them out
  groups                                the pool's groups
  session-key [--rotate] [--cluster NAME]
                                        make the auth service's session key (SSM SecureString) if missing;
                                        --rotate puts a new key first and keeps the previous one

  --local        the running local cluster (npx devcluster local up)
  --pool-id ID   this user pool; default: the stack's UserPoolId output
  --stack NAME   the deployed stack (default devcluster-dev)
Changes are safe to repeat: adding what exists or removing what is gone says so and changes nothing.
`;

const SUBCOMMANDS = ["list", "add", "remove", "group", "groups", "session-key"];

/** The running local cluster's state, with the environment pointed at its moto (as every local command does). */
async function localCluster() {
  const { stateDir } = await import("../local/cluster/state.ts");
  const { requireState } = await import("../local/cluster/cluster.ts");
  return requireState(stateDir());
}

async function poolId(values: { local?: boolean; "pool-id"?: string; stack?: string }): Promise<string> {
  if (values["pool-id"]) return values["pool-id"];
  if (values.local) {
    const state = await localCluster();
    if (!state.userPool)
      throw new NotFoundError(
        "the local cluster has no user pool (started before accounts existed: run up again)",
      );
    return state.userPool.userPoolId;
  }
  const stack = values.stack ?? "devcluster-dev";
  const r = await new CloudFormationClient({}).send(new DescribeStacksCommand({ StackName: stack }));
  const id = r.Stacks?.[0]?.Outputs?.find((o) => o.OutputKey === "UserPoolId")?.OutputValue;
  if (!id) throw new NotFoundError(`stack ${stack} has no UserPoolId output (give --pool-id)`);
  return id;
}

export async function usersCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    "users",
    args,
    {
      local: { type: "boolean" },
      "pool-id": { type: "string" },
      stack: { type: "string" },
      cluster: { type: "string" },
      email: { type: "string" },
      "password-stdin": { type: "boolean" },
      group: { type: "string", multiple: true },
      rotate: { type: "boolean" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    4,
  );
  const [sub, ...rest] = positionals;
  if (values.help || sub === undefined) {
    process.stdout.write(USERS_USAGE);
    return sub === undefined && !values.help ? 2 : 0;
  }
  if (!SUBCOMMANDS.includes(sub))
    throw new InvalidInputError(`users: unknown subcommand '${sub}'${didYouMean(sub, SUBCOMMANDS)}`);
  const say = (x: unknown, text: string) =>
    process.stdout.write(values.json ? JSON.stringify(x, null, 2) + "\n" : text + "\n");
  const need = (n: number, usage: string) => {
    if (rest.length !== n) throw new InvalidInputError(`users ${sub}: usage: ${usage}`);
  };

  if (sub === "session-key") {
    need(0, "session-key [--rotate] [--cluster NAME]");
    let cluster = values.cluster ?? "dev";
    if (values.local) {
      const state = await localCluster();
      cluster = values.cluster ?? state.clusterName;
    }
    const r = await ensureSessionKey(new SSMClient({}), cluster, { rotate: values.rotate ?? false });
    say(
      r,
      `${r.name}: ${r.action} (${r.keys} key${r.keys > 1 ? "s" : ""}; the auth service reloads it within 5 minutes)`,
    );
    return 0;
  }

  const dir = cognitoUserDirectory(new CognitoIdentityProviderClient({}), await poolId(values));
  switch (sub) {
    case "list": {
      need(0, "list");
      const users = await listUsers(dir);
      say(
        users,
        users.length
          ? users
              .map(
                (u) =>
                  `${u.name}\t${u.status}${u.enabled ? "" : " (disabled)"}\t${u.groups.join(",") || "-"}`,
              )
              .join("\n")
          : "no users",
      );
      return 0;
    }
    case "groups":
      need(0, "groups");
      say(await dir.listGroups(), (await dir.listGroups()).join("\n"));
      return 0;
    case "add": {
      need(1, "add <name> [--email E] [--password-stdin] [--group G ...]");
      const password = values["password-stdin"] ? readFileSync(0, "utf8").replace(/\r?\n$/, "") : undefined;
      const r = await addUser(dir, rest[0]!, {
        ...(values.email !== undefined ? { email: values.email } : {}),
        ...(password !== undefined ? { password } : {}),
        groups: values.group ?? [],
      });
      say(r, r.message);
      return 0;
    }
    case "remove": {
      need(1, "remove <name>");
      const r = await removeUser(dir, rest[0]!);
      say(r, r.message);
      return 0;
    }
    case "group": {
      need(3, "group add|remove <name> <group>");
      const [action, name, group] = rest as [string, string, string];
      if (action !== "add" && action !== "remove")
        throw new InvalidInputError(`users group: add or remove, not '${action}'`);
      const r = await setGroup(dir, action, name, group);
      say(r, r.message);
      return 0;
    }
  }
  return 2;
}
