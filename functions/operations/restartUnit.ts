// The `restart` function's use case: restart one placed unit on the nodes the placement puts it on
// (or the one named among them), with the fixed restart script and nothing else. Its only inputs are
// a unit name (checked as systemd would) and optionally an instance id; what runs and where comes
// from the cluster's own placement, so whoever may invoke it can restart units and do nothing more.
import { z } from "zod";
import { NotFoundError } from "../domain/errors.ts";
import { parseInput } from "../domain/input.ts";
import { unitVerbScript, unitWord } from "../domain/operatorScripts.ts";
import type { Commands, CommandResult } from "../ports/index.ts";
import type { Logger } from "../ports/log.ts";
import type { PlacementStore } from "../ports/units.ts";

export const RestartRequest = z
  .object({
    unit: z.string().min(1).max(256),
    node: z
      .string()
      .regex(/^i-[0-9a-f]{8,17}$/, "an instance id")
      .optional(),
  })
  .strict();
export type RestartRequest = z.infer<typeof RestartRequest>;

export interface UnitRestart {
  machine: string;
  ok: boolean;
  /** The unit's state after the restart ("unreachable" when the node did not run the command). */
  state: string;
  error: string;
}

export interface RestartResult {
  unit: string;
  results: UnitRestart[];
}

export interface RestartDeps {
  placement: () => Promise<PlacementStore>;
  commands: Commands;
}

const lastLine = (s: string) => s.trim().split("\n").pop() ?? "";

/** What a node answered to the restart script (systemctl restart, then is-active). */
export function restartOutcome(r: CommandResult): UnitRestart {
  return {
    machine: r.instanceId,
    ok: r.status === "Success",
    state: r.status === "Undeliverable" ? "unreachable" : lastLine(r.stdout) || "unknown",
    error: r.status === "Success" ? "" : (r.stderr.trim() || r.status).slice(-2000),
  };
}

export async function restartUnit(deps: RestartDeps, event: unknown, log: Logger): Promise<RestartResult> {
  const req = parseInput(RestartRequest, event, "restart");
  unitWord(req.unit); // a malformed name is refused before anything is read
  const { placement } = (await (await deps.placement()).load()).state;
  const on = [...(placement[req.unit] ?? [])].sort();
  if (!on.length) throw new NotFoundError(`no unit ${req.unit} is placed in this cluster`);
  if (req.node !== undefined && !on.includes(req.node))
    throw new NotFoundError(`${req.unit} is not placed on ${req.node} (it is on ${on.join(", ")})`);
  const targets = req.node !== undefined ? [req.node] : on;
  log.info("restart", { unit: req.unit, nodes: targets });
  const results = await deps.commands.run({
    instanceIds: targets,
    script: unitVerbScript("restart", req.unit),
    comment: `devcluster restart ${req.unit}`,
    timeoutSeconds: 300,
  });
  const out = results.map(restartOutcome);
  for (const r of out) {
    const fields = { unit: req.unit, node: r.machine, state: r.state, error: r.error };
    if (r.ok) log.info("restarted", fields);
    else log.warn("restart failed", fields);
  }
  return { unit: req.unit, results: out };
}
