// A small seeded generator of random clusters and unit sets for placement property tests and the bench.
import type { PlacementNode, UnitSpec } from "../../../../functions/domain/units/index.ts";

export function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]!;
  return { next, int, pick };
}
export type Rng = ReturnType<typeof rng>;

const ROLES = ["main", "worker", "data"] as const;
const ZONES = ["eu-west-1a", "eu-west-1b", "eu-west-1c"];

export function randomNodes(r: Rng, count: number, unhealthyShare = 0.1): PlacementNode[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `i-${(1000 + i).toString(16)}${r.int(0, 9)}`,
    role: r.pick(ROLES),
    zone: r.pick(ZONES),
    healthy: r.next() >= unhealthyShare,
    metadata: { disk: r.pick(["ssd", "hdd"]) },
  }));
}

const spec = (name: string, file: string, rules: Partial<UnitSpec["rules"]>, global = false): UnitSpec => ({
  name,
  file,
  service: file.split("@")[0]!.split(".")[0]!,
  global,
  start: true,
  spreadGroup: file,
  volumes: [],
  rules: { machineOf: [], metadata: [], conflicts: [], replaces: [], global, ...rules },
});

/** A random catalog already expanded into unit specs (the shapes fleet clusters had). */
export function randomUnits(
  r: Rng,
  opts: { services: number; maxInstances: number; nodes?: PlacementNode[] },
): UnitSpec[] {
  const out: UnitSpec[] = [];
  for (let s = 0; s < opts.services; s++) {
    const kind = r.next();
    const name = `svc${s}`;
    if (kind < 0.15) {
      const role = r.pick(ROLES);
      out.push(
        spec(
          `${name}.service`,
          `${name}.service`,
          { metadata: [{ key: "role", values: [role], notValues: [] }] },
          true,
        ),
      );
      continue;
    }
    if (kind < 0.2 && opts.nodes?.length) {
      out.push(spec(`${name}.service`, `${name}.service`, { machineId: r.pick(opts.nodes).id }));
      continue;
    }
    const file = `${name}@.service`;
    const n = r.int(1, opts.maxInstances);
    const metadata =
      r.next() < 0.6
        ? [{ key: "role", values: r.next() < 0.3 ? ["worker", "data"] : [r.pick(ROLES)], notValues: [] }]
        : [];
    if (r.next() < 0.2) metadata.push({ key: "disk", values: [], notValues: ["hdd"] } as never);
    const selfConflict = r.next() < 0.4;
    const conflicts = [
      ...(selfConflict ? [`${name}@*.service`] : []),
      ...(r.next() < 0.15 && s > 0 ? [`svc${r.int(0, s - 1)}@*.service`] : []),
    ];
    const replaces = r.next() < 0.05 && s > 0 ? [`svc${r.int(0, s - 1)}.service`] : [];
    const sidecar = r.next() < 0.3;
    for (let i = 1; i <= n; i++) {
      const inst = `${name}@${i}.service`;
      out.push(spec(inst, file, { metadata, conflicts, replaces }));
      if (sidecar)
        out.push(spec(`presence@${name}@${i}.service`, "presence@.service", { machineOf: [inst] }));
    }
  }
  return out;
}
