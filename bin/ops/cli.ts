// `devcluster <machines|members|units|...>`: operating a cluster, fleetctl-style, with the same output
// for the local cluster (default; --dir) and a deployed stack (--stack NAME --region R, or --profile).
import type { SwapReport } from "../../functions/operations/volumeSnapshots.ts";
import { createInterface } from "node:readline/promises";
import { randomBytes } from "node:crypto";
import { didYouMean, parse } from "../args.ts";
import { InvalidInputError, NotFoundError, RefusedError } from "../../functions/domain/errors.ts";
import type { ClusterView } from "../../functions/domain/clusterView.ts";
import { unitWord, type UnitVerb } from "../../functions/domain/operatorScripts.ts";
import type { UnitsReport } from "../../functions/operations/units.ts";
import { FORCE_HINT } from "../../functions/operations/restore.ts";
import {
  age,
  findMachine,
  journal,
  placedOn,
  readView,
  runReconcile,
  takeSnapshot,
  unitAction,
  unitRows,
  unitStatus,
} from "./operate.ts";
import { parseServiceSelection } from "../../functions/domain/units/services.ts";
import { table } from "./table.ts";
import { checkDbArgs, dbCommand } from "./databases.ts";
import { OPS_SUBS } from "./commands.ts";
import type { OpsTarget } from "./target.ts";

type Opt = { type: "string" | "boolean"; short?: string };

const common: Record<string, Opt> = {
  dir: { type: "string" },
  stack: { type: "string" },
  region: { type: "string" },
  profile: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
};

export interface TargetChoice {
  dir?: string | undefined;
  stack?: string | undefined;
  region?: string | undefined;
  profile?: string | undefined;
}

export async function openTarget(choice: TargetChoice): Promise<OpsTarget> {
  if (choice.stack || choice.profile) {
    const { awsOpsTarget, resolveProfile } = await import("./awsTarget.ts");
    return awsOpsTarget(resolveProfile(choice));
  }
  const [{ localOpsTarget }, { stateDir }] = await Promise.all([
    import("../../local/cluster/opsTarget.ts"),
    import("../../local/cluster/state.ts"),
  ]);
  return localOpsTarget(stateDir(choice.dir));
}

function count(name: string, v: string | undefined, dflt: number, max: number): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > max)
    throw new InvalidInputError(`${name} must be a whole number from 1 to ${max} (got '${v}')`);
  return Number(v);
}

/** Progress for a long call on stderr: what runs and for how long, every few seconds. */
async function withProgress<T>(what: string, run: () => Promise<T>, everyMs = 5000): Promise<T> {
  const t0 = Date.now();
  process.stderr.write(`${what}...\n`);
  const timer = setInterval(
    () => process.stderr.write(`  ${what}: still running (${Math.round((Date.now() - t0) / 1000)} s)\n`),
    everyMs,
  );
  try {
    const out = await run();
    process.stderr.write(`${what}: done in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    return out;
  } finally {
    clearInterval(timer);
  }
}

/** Ask on the terminal; `undefined` when there is none (then the caller refuses). */
async function ask(question: string): Promise<string | undefined> {
  if (!process.stdin.isTTY) return undefined;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question(question)).trim();
  } finally {
    rl.close();
  }
}

export function formatMachines(v: ClusterView): string {
  return table(
    ["MACHINE", "ROLE", "ZONE", "ADDRESS", "LIFECYCLE", "HEALTH", "REGISTRY", "MEMBER", "UNITS"],
    v.machines.map((m) => [
      m.id,
      m.role,
      m.zone,
      m.address,
      m.lifecycle,
      m.health,
      m.registry || "-",
      m.member || "-",
      String(m.units.length),
    ]),
  );
}

export function formatMembers(v: ClusterView): string {
  if (!v.etcd.reachable) return "no etcd member answers";
  return table(
    ["MEMBER", "NAME", "MACHINE", "PEER", "KIND", "HEALTHY"],
    v.etcd.members.map((m) => [
      m.id,
      m.name,
      m.machine || "-",
      m.peerUrl,
      m.learner ? "learner" : "voter",
      m.healthy ? "yes" : "no",
    ]),
  );
}

export function formatServices(v: ClusterView): string {
  if (!v.services.length) return "no service is announced";
  return table(
    ["SERVICE", "INSTANCE", "MACHINE", "ADDRESS"],
    v.services.flatMap((s) => s.instances.map((i) => [s.name, i.id, i.machine, `${i.address}:${i.port}`])),
  );
}

export function formatVolumes(v: ClusterView): string {
  if (!v.volumes.length) return `no volumes (none is tagged for cluster ${v.cluster})`;
  return table(
    ["VOLUME", "SERVICE", "INSTANCE", "NAME", "ZONE", "SIZE", "STATE", "MACHINE", "LAST SNAPSHOT"],
    v.volumes.map((x) => [
      x.id,
      x.service,
      x.instance,
      x.volume,
      x.zone,
      `${x.sizeGiB} GiB`,
      x.retired ? `${x.state} (retired)` : x.state,
      x.machine || "-",
      x.lastSnapshot || "-",
    ]),
  );
}

export function formatSnapshots(v: ClusterView, now = new Date()): string {
  if (!v.snapshots.length) return "no valid snapshot";
  return table(
    ["SNAPSHOT", "TAKEN", "AGE", "REVISION", "KEYS", "BYTES"],
    v.snapshots.map((s) => [
      s.id,
      s.completedAt,
      age(s.completedAt, now),
      String(s.revision),
      String(s.keys),
      String(s.bytes),
    ]),
  );
}

export async function opsCommand(sub: string, args: string[]): Promise<number> {
  const spec = OPS_SUBS[sub];
  if (!spec)
    throw new InvalidInputError(
      `unknown command '${sub}'${didYouMean(sub, Object.keys(OPS_SUBS))}; 'npx devcluster --help' lists them`,
    );
  const { values, positionals } = parse(sub, args, { ...common, ...spec.options }, spec.positionals);
  const v = values as Record<string, string | boolean | undefined>;
  if (v.help) {
    process.stdout.write(
      `usage: npx devcluster ${spec.usage}\n  common options: --json; --dir DIR (a local cluster); --stack NAME --region R, or --profile NAME (a deployed one)\n`,
    );
    return 0;
  }
  const asJson = Boolean(v.json);
  const out = (text: string) => process.stdout.write(text.endsWith("\n") ? text : text + "\n");
  const json = (x: unknown) => out(JSON.stringify(x, null, 2));
  const arg = positionals[0];
  const needs = (what: string) => {
    if (!arg)
      throw new InvalidInputError(`${sub}: name a ${what}; 'npx devcluster ${sub} --help' shows the usage`);
    return arg;
  };
  // Bad usage is found before anything is contacted.
  if (["status", "journal", "start", "stop", "restart"].includes(sub)) unitWord(needs("unit"));
  if (sub === "ssh") needs("node or unit");
  if (sub === "volume") volumeUsage(positionals, v);
  if (sub === "db") checkDbArgs(positionals);
  const lines = count("--lines", v.lines as string | undefined, sub === "status" ? 10 : 100, 10_000);

  const t = await openTarget({
    dir: v.dir as string | undefined,
    stack: v.stack as string | undefined,
    region: v.region as string | undefined,
    profile: v.profile as string | undefined,
  });
  try {
    switch (sub) {
      case "machines":
      case "members":
      case "services":
      case "volumes":
      case "snapshots": {
        const view = await readView(t);
        if (asJson) {
          const part = {
            machines: view.machines,
            members: view.etcd,
            services: view.services,
            volumes: view.volumes,
            snapshots: view.snapshots,
          }[sub];
          json({ cluster: view.cluster, at: view.at, [sub]: part, problems: view.problems });
        } else {
          const f = {
            machines: formatMachines,
            members: formatMembers,
            services: formatServices,
            volumes: formatVolumes,
            snapshots: formatSnapshots,
          }[sub];
          out(f(view));
          for (const p of view.problems) process.stderr.write(`warning: ${p}\n`);
        }
        if (sub === "members")
          return view.etcd.reachable && view.etcd.members.every((m) => m.healthy) ? 0 : 1;
        return 0;
      }
      case "units": {
        const view = await readView(t);
        const rows = unitRows(view, { all: Boolean(v.all) });
        if (asJson) json({ cluster: view.cluster, units: rows, problems: view.problems });
        else
          out(
            table(
              ["UNIT", "MACHINE", "ROLE", "ZONE", "STATE"],
              rows.map((r) => [
                r.unit + (r.placed ? "" : " (not placed)"),
                r.machine || "-",
                r.role,
                r.zone,
                r.state,
              ]),
            ),
          );
        return 0;
      }
      case "status": {
        const view = await readView(t);
        const s = await unitStatus(t, view, arg!, lines);
        if (asJson) json(s);
        else
          for (const m of s.machines)
            out(
              `${s.unit} on ${m.machine} (${m.role}, ${m.zone}, ${m.address}): ${m.state}\n${m.journal.replace(/^/gm, "  ")}`,
            );
        return s.machines.every((m) => m.state === "active") ? 0 : 1;
      }
      case "journal": {
        const view = await readView(t);
        const on = placedOn(view, arg!, v.node as string | undefined);
        if (on.length > 1)
          throw new InvalidInputError(
            `journal: ${arg} runs on ${on.length} nodes (${on.join(", ")}); pick one with --node`,
          );
        const machine = on[0]!;
        if (!v.follow) {
          const text = await journal(t, machine, arg!, { lines });
          if (asJson) json({ unit: arg, machine, lines: text.split("\n").filter(Boolean) });
          else out(text);
          return 0;
        }
        // Following over node commands: each call prints what came since the last (a cursor on the node).
        const cursor = `follow-${randomBytes(6).toString("hex")}`;
        let stop = false;
        process.once("SIGINT", () => (stop = true));
        let first = true;
        while (!stop) {
          const text = await journal(t, machine, arg!, first ? { lines, cursor } : { lines: 10_000, cursor });
          if (first) {
            // The first call set the cursor at the end; print the last lines once.
            out(await journal(t, machine, arg!, { lines }));
            first = false;
          } else if (text) process.stdout.write(text);
          await new Promise((r) => setTimeout(r, 1000));
        }
        return 0;
      }
      case "ssh": {
        const view = await readView(t);
        let machine: string;
        if (view.machines.some((m) => m.id === arg) || arg!.startsWith("i-"))
          machine = findMachine(view, arg!).id;
        else {
          const on = placedOn(view, arg!);
          if (on.length > 1)
            throw new InvalidInputError(
              `ssh: ${arg} runs on ${on.length} nodes (${on.join(", ")}); name the node`,
            );
          machine = on[0]!;
        }
        process.stderr.write(`devcluster: a shell on ${machine} (${t.describe}); 'exit' leaves it\n`);
        return await t.shell(machine);
      }
      case "start":
      case "stop":
      case "restart": {
        const view = await readView(t);
        placedOn(view, arg!, v.node as string | undefined); // an unknown unit or node fails before anything runs
        const results = await withProgress(`${sub} ${arg}`, () =>
          unitAction(t, view, sub as UnitVerb, arg!, v.node as string | undefined),
        );
        if (asJson) json({ unit: arg, verb: sub, results });
        else
          out(
            table(
              ["MACHINE", "RESULT", "STATE", "ERROR"],
              results.map((r) => [
                r.machine,
                r.ok ? "ok" : "failed",
                r.state,
                r.error.split("\n").pop() ?? "",
              ]),
            ),
          );
        return results.every((r) => r.ok) ? 0 : 1;
      }
      case "snapshot": {
        const res = await withProgress("snapshot", () => takeSnapshot(t));
        json(res);
        return 0;
      }
      case "reconcile": {
        const report = (await withProgress("reconcile", () => runReconcile(t))) as {
          blocked?: unknown[];
          failed?: unknown[];
        };
        json(report);
        return report.blocked?.length || report.failed?.length ? 1 : 0;
      }
      case "deploy":
        return await deploy(t, v, asJson, out, json);
      case "restore":
        return await restore(t, arg ?? "latest", v, asJson, json);
      case "volume":
        return await volume(t, positionals, v, json);
      case "db":
        return await dbCommand(t, positionals, v, { asJson, out, json, ask, withProgress });
    }
    return 2;
  } finally {
    await t.close();
  }
}

async function deploy(
  t: OpsTarget,
  v: Record<string, string | boolean | undefined>,
  asJson: boolean,
  out: (s: string) => void,
  json: (x: unknown) => void,
): Promise<number> {
  const [{ readCatalogForPush }, { formatUnitsReport }] = await Promise.all([
    import("../../local/cluster/cluster.ts"),
    import("../../local/cluster/unitsDiff.ts"),
  ]);
  const { catalog, source } = readCatalogForPush(
    v.catalog as string | undefined,
    "deploy",
    parseServiceSelection(t.services),
  );
  const confirm = v.confirm ? { confirm: true } : {};
  const plan = (await withProgress("deploy: planning", () =>
    t.invoke("units", { catalog: source, dryRun: true, ...confirm }),
  )) as UnitsReport;
  (asJson ? (s: string) => process.stderr.write(s + "\n") : out)(formatUnitsReport(plan, catalog));
  if (!plan.moves.length && !plan.pushed.length) {
    if (asJson) json({ plan, report: null });
    return 0;
  }
  if (!v.yes) {
    const answer = await ask(`push this plan to ${t.describe}? [y/N] `);
    if (answer === undefined)
      throw new RefusedError(
        "deploy: not confirmed and no terminal to ask on; nothing was pushed (pass --yes)",
      );
    if (!/^y(es)?$/i.test(answer)) {
      process.stderr.write("deploy: not confirmed; nothing was pushed\n");
      return 1;
    }
  }
  const report = (await withProgress("deploy: pushing", () =>
    t.invoke("units", { catalog: source, dryRun: false, ...confirm }),
  )) as UnitsReport;
  if (asJson) json({ plan, report });
  else out(formatUnitsReport(report, catalog));
  return report.failed.length ? 1 : 0;
}

/** `volume ...`: its usage checked before anything is contacted. */
function volumeUsage(p: string[], v: Record<string, string | boolean | undefined>) {
  const [action, target, snapshot] = p;
  const usage = "; 'npx devcluster volume --help' shows the usage";
  if (action === "snapshot") {
    if (p.length > 2 || v.zone !== undefined)
      throw new InvalidInputError(`volume snapshot takes at most a volume${usage}`);
  } else if (action === "restore") {
    if (!target || !snapshot || v.zone !== undefined)
      throw new InvalidInputError(
        `volume restore needs a volume and a snapshot id (or latest), and no --zone${usage}`,
      );
  } else if (action === "move") {
    if (!target || p.length > 2 || typeof v.zone !== "string")
      throw new InvalidInputError(`volume move needs a volume and --zone${usage}`);
  } else throw new InvalidInputError(`volume: '${action ?? ""}' is not snapshot, restore or move${usage}`);
}

/**
 * Volume snapshots, restore and move, through the units function (which syncs the units after a
 * swap). A restore or move shows what it replaces and asks first.
 */
async function volume(
  t: OpsTarget,
  p: string[],
  v: Record<string, string | boolean | undefined>,
  json: (x: unknown) => void,
): Promise<number> {
  const [action, target, snapshot] = p as [
    "snapshot" | "restore" | "move",
    string | undefined,
    string | undefined,
  ];
  if (action === "snapshot") {
    const res = await withProgress("volume snapshot", () =>
      t.invoke("units", { volume: { action, ...(target ? { target } : {}) } }),
    );
    json(res);
    return ((res as { volume: { failed: unknown[] } }).volume.failed ?? []).length ? 1 : 0;
  }
  const event = { action, target, ...(action === "restore" ? { snapshot } : { zone: v.zone }) };
  const plan = (
    (await withProgress(`volume ${action}: planning`, () =>
      t.invoke("units", { volume: { ...event, dryRun: true } }),
    )) as {
      volume: SwapReport;
    }
  ).volume;
  const say = (s: string) => process.stderr.write(s + "\n");
  if (plan.already) {
    say(`volume ${action} ${plan.volume}: nothing to do (${plan.already})`);
    json({ plan, report: null });
    return 0;
  }
  say(
    `volume ${action} ${plan.volume} (${t.describe}):\n` +
      `  replaces volume ${plan.current.id} (${plan.current.sizeGiB} GiB, ${plan.current.zone}, ` +
      `${plan.current.node ? `attached to ${plan.current.node}` : "not attached"}): its data since ` +
      (plan.snapshot ? `${plan.snapshot.startedAt} (${plan.snapshot.id})` : "the snapshot taken now") +
      ` is no longer used\n` +
      `  the unit is stopped, then started on a new volume from ${plan.snapshot?.id ?? "that snapshot"} in ${plan.zone}\n` +
      `  the old volume is kept, detached, tagged devcluster:retired (never deleted)`,
  );
  if (!v.yes) {
    const answer = await ask(`type the volume (${plan.volume}) to ${action} it: `);
    if (answer === undefined)
      throw new RefusedError(
        `volume ${action}: not confirmed and no terminal to ask on; nothing was changed (pass --yes)`,
      );
    if (answer !== plan.volume) {
      say(`volume ${action}: not confirmed; nothing was changed`);
      return 1;
    }
  }
  const report = (await withProgress(`volume ${action} ${plan.volume}`, () =>
    t.invoke("units", { volume: { ...event, dryRun: false } }),
  )) as { volume: SwapReport; sync?: UnitsReport };
  json(report);
  return report.sync && (report.sync.failed.length || report.sync.held.length) ? 1 : 0;
}

async function restore(
  t: OpsTarget,
  which: string,
  v: Record<string, string | boolean | undefined>,
  asJson: boolean,
  json: (x: unknown) => void,
): Promise<number> {
  const view = await readView(t);
  const snap = which === "latest" ? view.snapshots[0] : view.snapshots.find((s) => s.id === which);
  if (!snap)
    throw new NotFoundError(
      which === "latest"
        ? `restore: cluster ${view.cluster} has no valid snapshot; nothing was changed`
        : `restore: no valid snapshot ${which} in cluster ${view.cluster}; 'devcluster snapshots' lists them`,
    );
  const healthy = view.etcd.members.filter((m) => m.healthy).length;
  const say = (s: string) => process.stderr.write(s + "\n");
  say(
    `restore ${snap.id} to cluster ${view.cluster} (${t.describe}):\n` +
      `  taken ${snap.completedAt} (${age(snap.completedAt)}), revision ${snap.revision}, ${snap.keys} keys, ${snap.bytes} bytes\n` +
      `  everything etcd stored after revision ${snap.revision} is lost; etcd now: ` +
      (view.etcd.reachable ? `${view.etcd.members.length} members, ${healthy} healthy` : "no member answers"),
  );
  if (!v.yes) {
    const answer = await ask(`type the cluster's name (${view.cluster}) to restore: `);
    if (answer === undefined)
      throw new RefusedError(
        "restore: not confirmed and no terminal to ask on; nothing was changed (pass --yes)",
      );
    if (answer !== view.cluster) {
      say("restore: not confirmed; nothing was changed");
      return 1;
    }
  }
  try {
    const res = await withProgress(`restore ${snap.id}`, () =>
      t.invoke("restore", { snapshot: snap.id, confirm: view.cluster, force: Boolean(v.force) }),
    );
    json(res);
  } catch (e) {
    if (e instanceof Error && e.message.includes(FORCE_HINT))
      e.message = e.message.replace(FORCE_HINT, "pass --force");
    throw e;
  }
  return 0;
}
