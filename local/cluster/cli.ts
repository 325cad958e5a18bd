// `devcluster local <subcommand>`: the whole control plane on one machine, with no AWS account.
import { parseArgs } from "node:util";
import { InvalidInputError } from "../../functions/domain/errors.ts";
import { ROLES, type Role } from "../../functions/domain/model.ts";
import { FUNCTION_NAMES, type FunctionName } from "../../cloudformation/options.ts";
import { attach, down, kill, killAllMain, scale, status, up } from "./cluster.ts";
import { formatStatus } from "./status.ts";
import { stateDir } from "./state.ts";
import { runDemo } from "./demo.ts";

export const LOCAL_USAGE = `usage: devcluster local <subcommand> [--dir DIR]

  up [--main 3] [--workers 2] [--data 0] [--prefix 127.77]
                                           start moto, create the stack, launch the nodes, form etcd
  status [--json]                          nodes, etcd members, DNS records, units per node, snapshots
  scale <main|worker|data> <n>             resize a group; the lifecycle handler answers each change
  kill <node-id>                           the node dies; its group replaces it
  kill --all-main                          every etcd member dies at once (SIGKILL)
  snapshot                                 run the snapshot function now
  restore [<snapshot>|latest] [--force]    rebuild etcd on the main nodes from a snapshot
  reconcile                                run the reconcile function now
  invoke <function> [--data JSON]          call a function with a payload, as 'sls invoke -f <function> --data JSON' does on AWS
  down                                     stop every process the cluster started
  demo [--prefix 127.77]                   up, write data, scale, kill every member, restore, verify, down

The cluster's state lives in --dir (default .devcluster/, or $DEVCLUSTER_STATE_DIR). Its VPC, moto
and nodes use the loopback /16 --prefix (127.70 to 127.99; default 127.77): a second cluster at the
same time needs both another --dir and another --prefix.
`;

const print = (line: string) => process.stdout.write(line + "\n");
const progress = (line: string) => process.stdout.write(`  - ${line}\n`);
const json = (v: unknown) => process.stdout.write(JSON.stringify(v, null, 2) + "\n");

function int(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v)) throw new InvalidInputError(`${name} must be a whole number (got ${v})`);
  return Number(v);
}

export async function localCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      dir: { type: "string" },
      main: { type: "string" },
      workers: { type: "string" },
      data: { type: "string" },
      prefix: { type: "string" },
      json: { type: "boolean" },
      "all-main": { type: "boolean" },
      force: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [sub, ...rest] = positionals;
  const dir = stateDir(values.dir);
  if (values.help || sub === "help" || sub === undefined) {
    process.stdout.write(LOCAL_USAGE);
    return sub === undefined && !values.help ? 2 : 0;
  }
  switch (sub) {
    case "up": {
      print(`devcluster local up (${dir})`);
      await up(
        dir,
        { main: int("--main", values.main, 3), workers: int("--workers", values.workers, 2), data: int("--data", values.data, 0), prefix: values.prefix },
        progress,
      );
      print(formatStatus(await status(dir)));
      return 0;
    }
    case "status": {
      const s = await status(dir);
      if (values.json) json(s);
      else print(formatStatus(s));
      return 0;
    }
    case "scale": {
      const [role, n] = rest;
      if (!ROLES.includes(role as Role)) throw new InvalidInputError(`scale: role must be one of ${ROLES.join(", ")}`);
      await scale(dir, role as Role, int("size", n, NaN), progress);
      return 0;
    }
    case "kill": {
      if (values["all-main"]) await killAllMain(dir, progress);
      else if (rest[0]) await kill(dir, rest[0], progress);
      else throw new InvalidInputError("kill: name a node id, or --all-main");
      return 0;
    }
    case "snapshot": {
      const { fns } = await attach(dir);
      json(await fns.snapshot());
      return 0;
    }
    case "restore": {
      const { state, fns } = await attach(dir);
      json(await fns.restore({ snapshot: rest[0] ?? "latest", confirm: state.clusterName, force: values.force ?? false }));
      return 0;
    }
    case "reconcile": {
      const { fns } = await attach(dir);
      json(await fns.reconcile());
      return 0;
    }
    case "invoke": {
      // --data is the payload here (as for sls invoke), the data group's size for up.
      const fn = rest[0] as FunctionName;
      if (!FUNCTION_NAMES.includes(fn)) throw new InvalidInputError(`invoke: name one of ${FUNCTION_NAMES.join(", ")}`);
      let payload: unknown = {};
      if (values.data !== undefined) {
        try {
          payload = JSON.parse(values.data);
        } catch (e) {
          throw new InvalidInputError(`invoke: --data must be JSON (${(e as Error).message})`);
        }
      }
      const { fns } = await attach(dir);
      json(await fns.invoke(fn, payload));
      return 0;
    }
    case "down": {
      await down(dir, progress);
      return 0;
    }
    case "demo":
      return runDemo(dir, print, progress, { prefix: values.prefix });
    default:
      throw new InvalidInputError(`unknown subcommand '${sub}'\n${LOCAL_USAGE}`);
  }
}
