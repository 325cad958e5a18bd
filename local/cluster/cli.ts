// `devcluster local <subcommand>`: the whole control plane on one machine, with no AWS account.
import { didYouMean, parse } from "../../bin/args.ts";
import { InvalidInputError } from "../../functions/domain/errors.ts";
import { ROLES, type Role } from "../../functions/domain/model.ts";
import { FUNCTION_NAMES, type FunctionName } from "../../cloudformation/options.ts";
import { LOCAL_GROUP_MAX, attach, down, kill, killAllMain, pushUnits, scale, status, up } from "./cluster.ts";
import { formatUnitsReport } from "./unitsDiff.ts";
import { formatStatus, type ClusterStatus } from "./status.ts";
import { FORCE_HINT } from "../../functions/operations/restore.ts";
import { stateDir } from "./state.ts";
import { runDemo } from "./demo.ts";

export const LOCAL_USAGE = `usage: npx devcluster local <subcommand> [--dir DIR] [--json]

  up [--main 3] [--workers 2] [--data 0] [--prefix 127.77] [--tls] [--etcd-tls] [--services all|NAME,...]
                                           start moto, create the stack, launch the nodes, form etcd
  status                                   nodes, etcd members, DNS records, units per node, snapshots
  scale <main|worker|data> <n>             resize a group; the lifecycle handler answers each change
  kill <node-id>                           the node dies; its group replaces it
  kill --all-main                          every etcd member dies at once (SIGKILL)
  snapshot                                 run the snapshot function now
  restore [<snapshot>|latest] [--force]    rebuild etcd on the main nodes from a snapshot
  restore --survivor                       no quorum: rebuild etcd from the most up-to-date surviving member
  reconcile                                run the reconcile function now
  units [--dry-run] [--catalog DIR] [--confirm]  validate the catalog, push what changed (--dry-run: show the diff)
  invoke <function> [--data JSON]          call a function with a payload, as 'sls invoke -f <function> --data JSON' does on AWS
  down                                     stop every process the cluster started
  functions-host                           serve the functions warm (started by up; the CLI invokes through it)
  ui [--port 8480] [--host 127.0.0.1]      the dashboard of the running cluster, on loopback
  demo [--prefix 127.77] [--etcd-tls]      up, write data, scale, kill every member, restore, verify, down

The cluster's state lives in --dir (default .devcluster/, or $DEVCLUSTER_STATE_DIR). Its VPC, moto
and nodes use the loopback /16 --prefix (127.70 to 127.99; default 127.77): a second cluster at the
same time needs both another --dir and another --prefix. Workers and data nodes: 0 to ${LOCAL_GROUP_MAX}.
--json prints one JSON document on stdout (progress goes to stderr). '<subcommand> --help' for each.
Exit codes: 0 done (status: healthy), 1 failed (status: unhealthy; reconcile: blocked or a repair
failed), 2 bad usage.
`;

type Opt = { type: "string" | "boolean"; short?: string };
interface Sub {
  usage: string;
  options: Record<string, Opt>;
  positionals: number;
}
const common: Record<string, Opt> = {
  dir: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
};
const SUBS: Record<string, Sub> = {
  up: {
    usage: `up [--main 3] [--workers 2] [--data 0] [--prefix 127.77] [--tls] [--plain-etcd] [--services all|NAME,...]\n  --main is odd, 3 to 9; --workers and --data 0 to ${LOCAL_GROUP_MAX}. If --dir holds a stopped cluster's\n  state, it is moved aside to <dir>.previous first (and up says so). --tls: the front doors serve\n  HTTPS for *.<domain> with a CA made for the cluster (<dir>/frontdoor-ca.pem); HTTP then redirects.\n  etcd serves TLS with client certificates and enforces the nodes' roles, as on AWS by default;\n  --plain-etcd: etcd on plain http without authentication (what most tests and benches use).\n  --services: the team's services (functions/catalog/team/) to run as well: all, or names such as\n  gerrit,phpapp (with the services they use); default none.`,
    options: {
      main: { type: "string" },
      workers: { type: "string" },
      data: { type: "string" },
      prefix: { type: "string" },
      tls: { type: "boolean" },
      "plain-etcd": { type: "boolean" },
      "etcd-tls": { type: "boolean" },
      services: { type: "string" },
    },
    positionals: 0,
  },
  status: {
    usage:
      "status\n  exit 1 when the cluster is unhealthy (a node down, etcd unreachable, a member unhealthy)",
    options: {},
    positionals: 0,
  },
  scale: {
    usage: `scale <main|worker|data> <n>\n  main: odd, 3 to 9; worker and data: 0 to ${LOCAL_GROUP_MAX}`,
    options: {},
    positionals: 2,
  },
  kill: {
    usage: "kill <node-id> | kill --all-main",
    options: { "all-main": { type: "boolean" } },
    positionals: 1,
  },
  snapshot: {
    usage: "snapshot\n  prints the snapshot function's result (JSON)",
    options: {},
    positionals: 0,
  },
  restore: {
    usage:
      "restore [<snapshot>|latest] [--force] | restore --survivor\n  --force restores even while a healthy cluster serves (it replaces its data)\n  --survivor recovers from the most up-to-date surviving member when members answer but no quorum does (no snapshot)",
    options: { force: { type: "boolean" }, survivor: { type: "boolean" } },
    positionals: 1,
  },
  reconcile: {
    usage: "reconcile\n  prints the reconcile report (JSON); exit 1 when blocked or a repair failed",
    options: {},
    positionals: 0,
  },
  units: {
    usage: `units [--dry-run] [--catalog DIR] [--confirm]
  validate the unit catalog (default functions/catalog/; every problem as file:line: reason, exit 2),
  re-place its units and push what changed through the units function. --dry-run prints the placement
  diff (which unit goes to or leaves which node, what each node would start, stop, restart) and
  changes nothing. A catalog that drops a unit running on main nodes is refused unless --confirm
  (the dry run lists them). Exit 1 when a node's push failed (it is pushed again on the next run).`,
    options: { "dry-run": { type: "boolean" }, catalog: { type: "string" }, confirm: { type: "boolean" } },
    positionals: 0,
  },
  invoke: {
    usage:
      "invoke <function> [--data JSON]\n  call a function with a payload, as 'sls invoke -f <function> --data JSON' does on AWS",
    options: { data: { type: "string" } },
    positionals: 1,
  },
  down: {
    usage: "down\n  stops every process the cluster started, and says what it found and stopped",
    options: {},
    positionals: 0,
  },
  "functions-host": {
    usage:
      "functions-host\n  serve the cluster's functions warm on <dir>/functions.sock until the cluster stops ('up' starts it)",
    options: {},
    positionals: 0,
  },
  demo: {
    usage:
      "demo [--prefix 127.77] [--plain-etcd]\n  on a cluster whose etcd serves TLS with client certificates and roles; --plain-etcd: on plain http",
    options: {
      prefix: { type: "string" },
      "plain-etcd": { type: "boolean" },
      "etcd-tls": { type: "boolean" },
    },
    positionals: 0,
  },
  ui: {
    usage:
      "ui [--port 8480] [--host 127.0.0.1]\n  serve the dashboard of the running cluster (nodes, members, services, units, snapshots, events;\n  restart a unit, take a snapshot) until interrupted; --port 0 picks a free port. Loopback only.",
    options: { port: { type: "string" }, host: { type: "string" } },
    positionals: 0,
  },
  help: { usage: "help", options: {}, positionals: 1 },
};

/** etcd's scheme for a new local cluster: TLS unless `--plain-etcd` (`--etcd-tls`, the old opt-in, still reads as TLS). */
function etcdTlsOption(v: Record<string, unknown>): boolean {
  if (v["plain-etcd"] && v["etcd-tls"])
    throw new InvalidInputError("--plain-etcd and --etcd-tls contradict each other: give one");
  return !v["plain-etcd"];
}

function int(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v)) throw new InvalidInputError(`${name} must be a whole number (got '${v}')`);
  return Number(v);
}

/** The cluster is healthy: every node up and InService, etcd reachable with every member healthy. */
export function unhealthyReasons(s: ClusterStatus): string[] {
  const out: string[] = [];
  for (const n of s.nodes) {
    if (!n.up) out.push(`node ${n.id} is down`);
    else if (n.state !== "InService") out.push(`node ${n.id} is ${n.state}`);
  }
  if (!s.etcd.reachable) out.push("no etcd member answers");
  for (const m of s.etcd.members) if (!m.healthy) out.push(`etcd member ${m.name || m.id} is unhealthy`);
  return out;
}

export async function localCommand(args: string[]): Promise<number> {
  // The subcommand is the first word that is neither an option nor an option's value.
  const takesValue = new Set([
    "--dir",
    "--main",
    "--workers",
    "--data",
    "--prefix",
    "--catalog",
    "--port",
    "--host",
  ]);
  let first = -1;
  for (let i = 0; i < args.length; i++) {
    if (!args[i]!.startsWith("-")) {
      first = i;
      break;
    }
    if (takesValue.has(args[i]!)) i++;
  }
  const sub = first >= 0 ? args[first] : undefined;
  if (sub === undefined) {
    if (args.includes("--help") || args.includes("-h")) {
      process.stdout.write(LOCAL_USAGE);
      return 0;
    }
    process.stderr.write(LOCAL_USAGE);
    return 2;
  }
  const spec = SUBS[sub];
  if (!spec) {
    throw new InvalidInputError(
      `local: unknown subcommand '${sub}'${didYouMean(sub, Object.keys(SUBS))}; 'npx devcluster local --help' lists them`,
    );
  }
  const rest = args.filter((_, i) => i !== first);
  const { values, positionals } = parse(
    `local ${sub}`,
    rest,
    { ...common, ...spec.options },
    spec.positionals,
  );
  const v = values as Record<string, string | boolean | undefined>;
  if (v.help || sub === "help") {
    process.stdout.write(
      sub === "help"
        ? LOCAL_USAGE
        : `usage: npx devcluster local ${spec.usage}\n  common options: --dir DIR, --json, --help\n`,
    );
    return 0;
  }
  const dir = stateDir(v.dir as string | undefined);
  const asJson = Boolean(v.json);
  const steps: string[] = [];
  // With --json, stdout carries only the JSON document; progress lines go to stderr.
  const print = (line: string) => (asJson ? process.stderr : process.stdout).write(line + "\n");
  const progress = (line: string) => {
    steps.push(line);
    (asJson ? process.stderr : process.stdout).write(`  - ${line}\n`);
  };
  const json = (x: unknown) => process.stdout.write(JSON.stringify(x, null, 2) + "\n");

  switch (sub) {
    case "up": {
      print(`devcluster local up (${dir})`);
      await up(
        dir,
        {
          main: int("--main", v.main as string | undefined, 3),
          workers: int("--workers", v.workers as string | undefined, 2),
          data: int("--data", v.data as string | undefined, 0),
          prefix: v.prefix as string | undefined,
          ...(v.tls ? { frontDoorTls: true } : {}),
          etcdTls: etcdTlsOption(v),
          ...(v.services !== undefined ? { services: v.services as string } : {}),
        },
        progress,
      );
      const s = await status(dir);
      if (asJson) json({ steps, status: s });
      else print(formatStatus(s));
      return 0;
    }
    case "status": {
      const s = await status(dir);
      const problems = unhealthyReasons(s);
      if (asJson) json({ ...s, healthy: problems.length === 0, problems });
      else {
        print(formatStatus(s));
        if (problems.length) print(`unhealthy: ${problems.join("; ")}`);
      }
      return problems.length ? 1 : 0;
    }
    case "scale": {
      const [role, n] = positionals;
      if (!ROLES.includes(role as Role)) {
        throw new InvalidInputError(
          role === undefined
            ? `scale: name a group and a size, e.g. 'npx devcluster local scale worker 3'`
            : `scale: no group '${role}'${didYouMean(role, ROLES)}; groups: ${ROLES.join(", ")}`,
        );
      }
      if (n === undefined)
        throw new InvalidInputError(
          `scale ${role}: say how many nodes, e.g. 'npx devcluster local scale ${role} 3'`,
        );
      await scale(dir, role as Role, int(`scale ${role}: the size`, n, 0), progress);
      if (asJson) json({ steps });
      return 0;
    }
    case "kill": {
      if (v["all-main"]) await killAllMain(dir, progress);
      else if (positionals[0]) await kill(dir, positionals[0], progress);
      else
        throw new InvalidInputError(
          "kill: name a node id (see 'npx devcluster local status'), or --all-main",
        );
      if (asJson) json({ steps });
      return 0;
    }
    case "snapshot": {
      const { fns } = await attach(dir);
      json(await fns.snapshot());
      return 0;
    }
    case "restore": {
      if (v.survivor && (positionals[0] || v.force))
        throw new InvalidInputError("restore --survivor takes no snapshot and no --force");
      const { state, fns } = await attach(dir);
      if (v.survivor) {
        json(await fns.restore({ mode: "survivor", confirm: state.clusterName }));
        return 0;
      }
      try {
        json(
          await fns.restore({
            snapshot: positionals[0] ?? "latest",
            confirm: state.clusterName,
            force: Boolean(v.force),
          }),
        );
      } catch (e) {
        // The function's refusal names its payload field; on the command line the override is --force.
        if (e instanceof Error && e.message.includes(FORCE_HINT))
          e.message = e.message.replace(FORCE_HINT, "pass --force");
        throw e;
      }
      return 0;
    }
    case "reconcile": {
      const { fns } = await attach(dir);
      const report = (await fns.reconcile()) as { blocked?: unknown[]; failed?: unknown[] };
      json(report);
      return report.blocked?.length || report.failed?.length ? 1 : 0;
    }
    case "units": {
      const { catalog, report } = await pushUnits(dir, {
        catalogDir: v.catalog as string | undefined,
        dryRun: Boolean(v["dry-run"]),
        confirm: Boolean(v.confirm),
      });
      if (asJson) json({ catalog, ...report });
      else print(formatUnitsReport(report, catalog));
      return report.failed.length ? 1 : 0;
    }
    case "invoke": {
      // --data is the payload here (as for sls invoke), the data group's size for up.
      const fn = positionals[0] as FunctionName;
      if (!FUNCTION_NAMES.includes(fn)) {
        throw new InvalidInputError(
          `invoke: name one of ${FUNCTION_NAMES.join(", ")}${positionals[0] ? didYouMean(positionals[0], FUNCTION_NAMES) : ""}`,
        );
      }
      let payload: unknown = {};
      if (typeof v.data === "string") {
        try {
          payload = JSON.parse(v.data);
        } catch (e) {
          throw new InvalidInputError(`invoke: --data must be JSON (${(e as Error).message})`);
        }
      }
      const { fns } = await attach(dir);
      json(await fns.invoke(fn, payload));
      return 0;
    }
    case "functions-host": {
      const { functionsHostCommand } = await import("./functionsHost.ts");
      return functionsHostCommand(dir);
    }
    case "down": {
      await down(dir, progress);
      if (asJson) json({ steps });
      return 0;
    }
    case "ui": {
      const host = (v.host as string | undefined) ?? "127.0.0.1";
      if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host))
        throw new InvalidInputError(`ui: --host must be a loopback address (127.x.y.z), got '${host}'`);
      const port = int("--port", v.port as string | undefined, 8480);
      if (port > 65535) throw new InvalidInputError(`ui: --port must be 0 to 65535 (got ${port})`);
      const [{ localOpsTarget }, { startDashboard }] = await Promise.all([
        import("./opsTarget.ts"),
        import("../../bin/ops/dashboard.ts"),
      ]);
      const target = await localOpsTarget(dir);
      const ui = await startDashboard(target, { host, port });
      print(`dashboard of the ${target.describe}: ${ui.url} (Ctrl-C stops it)`);
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
      });
      await ui.close();
      return 0;
    }
    case "demo":
      return runDemo(dir, print, progress, {
        prefix: v.prefix as string | undefined,
        etcdTls: etcdTlsOption(v),
      });
  }
  return 2;
}
