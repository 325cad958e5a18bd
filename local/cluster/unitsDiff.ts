// The units function's report as a placement diff a person reads: which unit goes to or leaves
// which node, and what each pushed node starts, stops and restarts.
import type { UnitsReport } from "../../functions/operations/units.ts";

const list = (xs: string[]) => xs.join(", ");

export function formatUnitsReport(r: UnitsReport, catalog: string): string {
  const out: string[] = [
    `units: catalog ${catalog}: ${r.units} units on ${r.nodes} nodes` +
      (r.dryRun ? " (dry run: nothing was pushed or stored)" : ""),
    "placement changes:",
  ];
  for (const m of r.moves) {
    if (!m.from.length) out.push(`  + ${m.unit} -> ${list(m.to)}`);
    else if (!m.to.length) out.push(`  - ${m.unit} leaves ${list(m.from)}`);
    else out.push(`  ~ ${m.unit}: ${list(m.from)} -> ${list(m.to)}`);
  }
  if (!r.moves.length) out.push("  (none)");
  const verb = r.dryRun ? "would push" : "pushed";
  out.push(`${verb} ${r.pushed.length} node${r.pushed.length === 1 ? "" : "s"}:`);
  for (const p of r.pushed) {
    const what = [
      p.start.length ? `start ${list(p.start)}` : "",
      p.stop.length ? `stop ${list(p.stop)}` : "",
      p.changed.length ? `restart what runs from ${list(p.changed)} (changed)` : "",
    ].filter(Boolean);
    out.push(`  ${p.nodeId} (${list(p.reasons)}): ${what.length ? what.join("; ") : "rewrite its units"}`);
  }
  if (!r.pushed.length) out.push("  (none: every node already runs its units)");
  if (r.mainRemovals.length)
    out.push(`on main nodes, the catalog drops: ${list(r.mainRemovals)} (pushed only with --confirm)`);
  for (const u of r.unplaceable) out.push(`unplaceable: ${u.unit}: ${u.reason}`);
  for (const [file, names] of Object.entries(r.missingImages))
    out.push(`image not published: ${file} names ${list(names)} (that unit fails on its node)`);
  if (!r.dryRun) {
    out.push(r.saved ? "placement stored" : "placement NOT stored");
    if (r.failed.length) out.push(`push failed on ${list(r.failed)} (pushed again on the next run)`);
  }
  return out.join("\n");
}
