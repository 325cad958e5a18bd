// The operator's commands over a target (a local cluster or a deployed stack): each reads the
// `status` function's view, or runs node scripts, or invokes a function, and returns plain data
// that the command line prints as a table or JSON and the dashboard renders.
import type { ClusterView, MachineView } from "../../functions/domain/clusterView.ts";
import { machinesOfUnit } from "../../functions/domain/clusterView.ts";
import { NotFoundError } from "../../functions/domain/errors.ts";
import {
  journalScript,
  parseUnitStates,
  unitStatesScript,
  unitVerbScript,
  unitWord,
  type UnitVerb,
} from "../../functions/domain/operatorScripts.ts";
import type { CommandResult } from "../../functions/ports/index.ts";
import { SCHEDULED, type OpsTarget } from "./target.ts";

/** The cluster as the `status` function reads it (from inside the VPC on AWS). */
export async function readView(t: OpsTarget): Promise<ClusterView> {
  return (await t.invoke("status", {})) as ClusterView;
}

export interface UnitRow {
  unit: string;
  machine: string;
  role: string;
  zone: string;
  /**
   * systemd's state on the machine (active, inactive, failed, activating, ...); "unreported" when
   * the machine publishes no states (down, still booting, or its record expired).
   */
  state: string;
  /** Placed by the catalog (false: a unit the node has enabled that the placement does not name). */
  placed: boolean;
}

/** A machine that publishes no unit states: its units' states are not known. */
export const UNREPORTED = "unreported";

const machineOf = (view: ClusterView, id: string) => view.machines.find((m) => m.id === id);

/** A node named by its instance id (or a unique prefix of at least 4 characters after `i-`). */
export function findMachine(view: ClusterView, name: string): MachineView {
  const exact = machineOf(view, name);
  if (exact) return exact;
  const prefixed = name.length >= 6 ? view.machines.filter((m) => m.id.startsWith(name)) : [];
  if (prefixed.length === 1) return prefixed[0]!;
  throw new NotFoundError(
    `no node ${name} in cluster ${view.cluster}` +
      (prefixed.length > 1 ? ` (${prefixed.length} nodes start with it)` : "") +
      `; 'devcluster machines' lists them`,
  );
}

/** The machines a unit is placed on; an unknown unit is a clear error. */
export function placedOn(view: ClusterView, unit: string, node?: string): string[] {
  unitWord(unit); // a malformed name is bad input, not "not found"
  const on = machinesOfUnit(view, unit);
  if (!on.length)
    throw new NotFoundError(
      `no unit ${unit} is placed in cluster ${view.cluster}; 'devcluster units' lists them`,
    );
  if (node === undefined) return on;
  const m = findMachine(view, node);
  if (!on.includes(m.id))
    throw new NotFoundError(`${unit} is not placed on ${m.id} (it is on ${on.join(", ")})`);
  return [m.id];
}

/**
 * Every placed unit with its state on its machine, from the view alone: the states are what each
 * node publishes to etcd (unitStates.ts), so this is one read of the status function on both
 * targets, with no command on any node. `all`: also the units a node has enabled that the placement
 * does not name.
 */
export function unitRows(view: ClusterView, opts: { all?: boolean } = {}): UnitRow[] {
  const rows: UnitRow[] = [];
  for (const m of view.machines) {
    const s = m.unitStates && new Map(m.unitStates.map((u) => [u.unit, u]));
    const seen = new Set<string>();
    for (const unit of m.units) {
      seen.add(unit);
      rows.push({
        unit,
        machine: m.id,
        role: m.role,
        zone: m.zone,
        state: s ? (s.get(unit)?.state ?? "unknown") : UNREPORTED,
        placed: true,
      });
    }
    if (opts.all && s)
      for (const [unit, u] of s)
        if (u.enabled && !seen.has(unit))
          rows.push({ unit, machine: m.id, role: m.role, zone: m.zone, state: u.state, placed: false });
  }
  for (const u of view.units)
    if (!u.machines.length)
      rows.push({ unit: u.name, machine: "", role: "", zone: "", state: "unplaced", placed: true });
  return rows.sort((a, b) => a.unit.localeCompare(b.unit) || a.machine.localeCompare(b.machine));
}

export interface UnitActionResult {
  machine: string;
  ok: boolean;
  /** The unit's state after the action. */
  state: string;
  error: string;
}

const lastLine = (s: string) => s.trim().split("\n").pop() ?? "";

function actionResult(r: CommandResult): UnitActionResult {
  return {
    machine: r.instanceId,
    ok: r.status === "Success",
    state: r.status === "Undeliverable" ? "unreachable" : lastLine(r.stdout) || "unknown",
    error: r.status === "Success" ? "" : (r.stderr.trim() || r.status).slice(-2000),
  };
}

/** systemctl start|stop|restart on every machine the unit is placed on (or the one named). */
export async function unitAction(
  t: OpsTarget,
  view: ClusterView,
  verb: UnitVerb,
  unit: string,
  node?: string,
): Promise<UnitActionResult[]> {
  const on = placedOn(view, unit, node);
  const results = await t.commands.run({
    instanceIds: on,
    script: unitVerbScript(verb, unit),
    comment: `devcluster ${verb} ${unit}`,
    timeoutSeconds: 300,
  });
  return results.map(actionResult);
}

export interface UnitStatus {
  unit: string;
  machines: {
    machine: string;
    role: string;
    zone: string;
    address: string;
    state: string;
    journal: string;
  }[];
}

/** A unit's state on each machine it is placed on, with the last lines of its journal. */
export async function unitStatus(
  t: OpsTarget,
  view: ClusterView,
  unit: string,
  lines = 10,
): Promise<UnitStatus> {
  const on = placedOn(view, unit);
  const results = await t.commands.run({
    instanceIds: on,
    script: `${unitStatesScript([unit], false)}\necho ---\n${journalScript(unit, { lines })}`,
    comment: `devcluster status ${unit}`,
    timeoutSeconds: 60,
  });
  return {
    unit,
    machines: results.map((r) => {
      const m = machineOf(view, r.instanceId);
      const [states = "", journal = ""] = r.stdout.split("\n---\n");
      return {
        machine: r.instanceId,
        role: m?.role ?? "",
        zone: m?.zone ?? "",
        address: m?.address ?? "",
        state:
          r.status === "Success" ? (parseUnitStates(states).get(unit)?.state ?? "unknown") : "unreachable",
        journal: r.status === "Success" ? journal.trimEnd() : r.stderr.trim(),
      };
    }),
  };
}

/** A unit's journal on one machine: the last lines, or with `cursor`, only what came since the last call. */
export async function journal(
  t: OpsTarget,
  machine: string,
  unit: string,
  opts: { lines: number; cursor?: string },
): Promise<string> {
  const [r] = await t.commands.run({
    instanceIds: [machine],
    script: journalScript(unit, { lines: opts.lines, ...(opts.cursor ? { cursorFile: opts.cursor } : {}) }),
    comment: `devcluster journal ${unit}`,
    timeoutSeconds: 60,
  });
  if (!r || r.status !== "Success")
    throw new NotFoundError(
      `journal of ${unit} on ${machine}: ${r ? r.stderr.trim() || r.status : "no answer"}`,
    );
  return r.stdout;
}

export const takeSnapshot = (t: OpsTarget) => t.invoke("snapshot", SCHEDULED);
export const runReconcile = (t: OpsTarget) => t.invoke("reconcile", SCHEDULED);

/** "3 min ago", "2 h 5 min ago": how old a time is, for people. */
export function age(iso: string, now = new Date()): string {
  const s = Math.max(0, Math.round((now.getTime() - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min ago`;
  return `${Math.floor(h / 24)} days ago`;
}
