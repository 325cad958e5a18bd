// `devcluster db dumps|restore`: a database service's dumps, and restoring a client database from
// one. The database's own container does the work on its node (decision 58), reached through the
// target's node commands (Run Command on AWS, the local runner locally); these only find the node,
// check the input, show what will happen and ask.
import { randomBytes } from "node:crypto";
import type { ClusterView } from "../../functions/domain/clusterView.ts";
import { dumpKey, dumpPrefix, type DumpEntry } from "../../functions/domain/databaseDumps.ts";
import {
  DevclusterError,
  InvalidInputError,
  NotFoundError,
  RefusedError,
} from "../../functions/domain/errors.ts";
import { age } from "./operate.ts";
import { table } from "./table.ts";
import type { OpsTarget } from "./target.ts";

const SERVICE = /^[a-z][a-z0-9-]{0,61}[a-z0-9]$|^[a-z]$/;
const STAMP = /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z$/;

export function checkServiceName(what: string, name: string | undefined): string {
  if (!name || !SERVICE.test(name))
    throw new InvalidInputError(
      `db: ${what} must be a service name (lowercase letters, digits, '-')${name ? `, not '${name}'` : ""}`,
    );
  return name;
}

/** A client service's database: its name with `_` (containers/postgres clients.ts). */
export const databaseOf = (client: string) => client.replaceAll("-", "_");

/** The dump a restore names: `latest`, a key, or the time part of one (`2026-11-26T20-00-01-234Z`). */
export function dumpChoice(
  cluster: string,
  service: string,
  client: string,
  which: string,
): string | "latest" {
  if (which === "latest") return which;
  const stamp = which.endsWith(".dump") && !which.includes("/") ? which.slice(0, -5) : which;
  if (STAMP.test(stamp))
    return dumpKey(
      dumpPrefix(cluster, service),
      databaseOf(client),
      new Date(stamp.replace(/T(\d\d)-(\d\d)-(\d\d)-(\d{3})Z$/, "T$1:$2:$3.$4Z")),
    );
  if (/^[A-Za-z0-9/_.-]{1,1024}$/.test(which)) return which;
  throw new InvalidInputError(
    `db restore: '${which}' is not a dump (latest, a key, or its time as 'db dumps' shows it)`,
  );
}

/** The node and container of the service's database unit (`<service>@<n>.service`, container `<service>-<n>`). */
export function databaseUnit(
  view: ClusterView,
  service: string,
  instance?: string,
): { unit: string; machine: string; container: string } {
  const placed = view.units.filter(
    (u) => u.name.startsWith(`${service}@`) && u.name.endsWith(".service") && u.machines.length > 0,
  );
  const named =
    instance === undefined ? placed : placed.filter((u) => u.name === `${service}@${instance}.service`);
  if (!named.length)
    throw new NotFoundError(
      `no unit of database service ${service}${instance === undefined ? "" : ` instance ${instance}`} is placed in cluster ${view.cluster}; 'devcluster units' lists them`,
    );
  if (named.length > 1)
    throw new InvalidInputError(
      `${service} has ${named.length} placed instances (${named.map((u) => u.name).join(", ")}); pick one with --instance`,
    );
  const unit = named[0]!;
  if (unit.machines.length !== 1)
    throw new InvalidInputError(
      `${unit.name} is placed on ${unit.machines.length} nodes; a database runs on one`,
    );
  const inst = unit.name.slice(service.length + 1, -".service".length);
  return { unit: unit.name, machine: unit.machines[0]!, container: `${service}-${inst}` };
}

const word = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/** The node script: the program's dump command in the database's container, served by the running program. */
export const dbToolScript = (container: string, args: string[]) =>
  `docker exec ${word(container)} perl control.pl ${args.map(word).join(" ")}`;

/** Run the program's dump command on the database's node; its JSON answer, or its refusal as an error. */
export async function runDbTool(
  t: OpsTarget,
  at: { machine: string; container: string; unit: string },
  args: string[],
  timeoutSeconds: number,
): Promise<unknown> {
  const [r] = await t.commands.run({
    instanceIds: [at.machine],
    script: dbToolScript(at.container, args),
    comment: `devcluster db ${args[0]} (${at.unit})`,
    timeoutSeconds,
  });
  if (!r || r.status === "Undeliverable")
    throw new DevclusterError(
      `${at.machine} (${at.unit}) did not take the command: ${r?.stderr.trim() || "no answer"}`,
    );
  const line = r.stdout.trim().split("\n").pop() ?? "";
  let out: { error?: string; refused?: boolean } | undefined;
  try {
    out = JSON.parse(line) as typeof out;
  } catch {
    out = undefined;
  }
  if (!out || typeof out !== "object")
    throw new DevclusterError(
      `${at.unit} on ${at.machine}: no answer from its program (${r.status}, exit ${r.exitCode}): ${(r.stderr.trim() || r.stdout.trim()).slice(-1500)}`,
    );
  if (out.error !== undefined)
    throw out.refused ? new RefusedError(out.error) : new DevclusterError(`${at.unit}: ${out.error}`);
  return out;
}

export interface DumpList {
  service: string;
  dumps: DumpEntry[];
  partial: number;
  more: number;
}

export async function listDatabaseDumps(
  t: OpsTarget,
  view: ClusterView,
  service: string,
  opts: { client?: string | undefined; instance?: string | undefined },
): Promise<DumpList> {
  const at = databaseUnit(view, service, opts.instance);
  return (await runDbTool(t, at, ["dumps", ...(opts.client ? [opts.client] : [])], 120)) as DumpList;
}

export interface DatabaseRestore {
  database: string;
  key: string;
  aside: string | null;
  bytes: number;
  ms: number;
  already: boolean;
}

/**
 * The dump a restore would use, checked against the listing (a dump must have its manifest), and
 * then the restore itself with one request id, so a command the transport retries runs once.
 */
export async function planDatabaseRestore(
  t: OpsTarget,
  view: ClusterView,
  service: string,
  client: string,
  which: string,
  instance?: string,
): Promise<{ dump: DumpEntry; run: () => Promise<DatabaseRestore> }> {
  const choice = dumpChoice(view.cluster, service, client, which);
  const at = databaseUnit(view, service, instance);
  // 120 lines of about 140 characters stay within what SSM keeps of a command's output (24,000);
  // a month of daily dumps is 30.
  const list = (await runDbTool(t, at, ["dumps", client, "--limit", "120"], 120)) as DumpList;
  const dump = choice === "latest" ? list.dumps[0] : list.dumps.find((d) => d.key === choice);
  if (!dump)
    throw new NotFoundError(
      choice === "latest"
        ? `${service} has no valid dump of ${client}'s database; nothing was changed`
        : `${service} has no valid dump ${choice} (a dump is valid with its manifest; 'devcluster db dumps ${service} ${client}' lists them); nothing was changed`,
    );
  const id = `r-${randomBytes(8).toString("hex")}`;
  return {
    dump,
    run: async () =>
      (await runDbTool(t, at, ["restore", client, dump.key, "--id", id], 3600)) as DatabaseRestore,
  };
}

/** Bad usage of `db`, found before anything is contacted. */
export function checkDbArgs(positionals: string[]): void {
  const [verb, service, client, which] = positionals;
  if (verb !== "dumps" && verb !== "dump" && verb !== "restore")
    throw new InvalidInputError(
      `db: 'dumps <service> [<client>]', 'dump <service> <client>' or 'restore <service> <client> <dump|latest>'; 'npx devcluster db --help' shows the usage`,
    );
  checkServiceName("the database service", service);
  if (verb === "dumps") {
    if (client !== undefined) checkServiceName("the client", client);
    if (which !== undefined) throw new InvalidInputError("db dumps: <service> [<client>] only");
    return;
  }
  checkServiceName("the client", client);
  if (verb === "dump") {
    if (which !== undefined) throw new InvalidInputError("db dump: <service> <client> only");
    return;
  }
  if (which === undefined)
    throw new InvalidInputError("db restore: name the dump (latest, or one 'db dumps' lists)");
}

export interface DbIo {
  asJson: boolean;
  out(text: string): void;
  json(x: unknown): void;
  /** Ask on the terminal; undefined when there is none. */
  ask(question: string): Promise<string | undefined>;
  withProgress<T>(what: string, run: () => Promise<T>): Promise<T>;
}

/** `devcluster db dumps|restore ...` (after checkDbArgs). */
export async function dbCommand(
  t: OpsTarget,
  positionals: string[],
  v: Record<string, string | boolean | undefined>,
  io: DbIo,
): Promise<number> {
  const [verb, service, client, which] = positionals as [
    string,
    string,
    string | undefined,
    string | undefined,
  ];
  const instance = v.instance as string | undefined;
  if (instance !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(instance))
    throw new InvalidInputError(`db: --instance '${instance}' is not an instance name`);
  const view = (await t.invoke("status", {})) as ClusterView;
  const say = (s: string) => process.stderr.write(s + "\n");
  if (verb === "dumps") {
    const list = await listDatabaseDumps(t, view, service, { client, instance });
    if (io.asJson) io.json(list);
    else {
      io.out(
        list.dumps.length
          ? table(
              ["DATABASE", "DUMP", "FINISHED", "AGE", "BYTES"],
              list.dumps.map((d) => [
                d.database,
                d.key.slice(d.key.lastIndexOf("/") + 1, -".dump".length),
                d.finishedAt,
                age(d.finishedAt),
                String(d.bytes),
              ]),
            )
          : `no valid dump of ${service}${client ? `'s client ${client}` : ""}`,
      );
      if (list.more) say(`${list.more} older dumps not shown`);
      if (list.partial)
        say(`${list.partial} dumps without a valid manifest (failed or unfinished) are not offered`);
    }
    return 0;
  }
  if (verb === "dump") {
    const at = databaseUnit(view, service, instance);
    const m = (await io.withProgress(`dump ${client} of ${service}`, () =>
      runDbTool(t, at, ["dump", client!], 3600),
    )) as DumpEntry & { ms: number };
    if (io.asJson) io.json(m);
    else io.out(`${m.database} dumped to ${m.key} (${m.bytes} bytes in ${(m.ms / 1000).toFixed(1)} s)`);
    return 0;
  }
  const plan = await planDatabaseRestore(t, view, service, client!, which!, instance);
  const db = plan.dump.database;
  say(
    `restore database ${db} of ${service} (${t.describe}) from ${plan.dump.key}:\n` +
      `  dumped ${plan.dump.finishedAt} (${age(plan.dump.finishedAt)}), ${plan.dump.bytes} bytes\n` +
      `  everything written to ${db} since then is no longer in ${db}: the current database is kept,\n` +
      `  renamed ${db}__before_<now>, and its open sessions are ended`,
  );
  if (!v.yes) {
    const answer = await io.ask(`type the database's name (${db}) to restore: `);
    if (answer === undefined)
      throw new RefusedError(
        "db restore: not confirmed and no terminal to ask on; nothing was changed (pass --yes)",
      );
    if (answer !== db) {
      say("db restore: not confirmed; nothing was changed");
      return 1;
    }
  }
  const res = await io.withProgress(`restore ${db} from ${plan.dump.key}`, plan.run);
  if (io.asJson) io.json(res);
  else
    io.out(
      res.already
        ? `${db} was already restored from ${res.key} by this request; nothing was done again`
        : `${db} restored from ${res.key} (${res.bytes} bytes in ${(res.ms / 1000).toFixed(1)} s)` +
            (res.aside ? `; the database it replaced is kept as ${res.aside}` : ""),
    );
  return 0;
}
