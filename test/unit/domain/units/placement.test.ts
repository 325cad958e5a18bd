import { describe, expect, it } from "vitest";
import {
  globToRegExp,
  metadataMatches,
  placeUnits,
  type Placement,
  type PlacementNode,
  type PlacementResult,
  type UnitSpec,
} from "../../../../functions/domain/units/index.ts";
import { randomNodes, randomUnits, rng } from "./gen.ts";

const metaOf = (n: PlacementNode) => ({ ...n.metadata, role: n.role, zone: n.zone });

/** Every rule of every unit, checked from scratch against the result. */
function checkRules(nodes: PlacementNode[], units: UnitSpec[], res: PlacementResult) {
  const healthy = new Map(nodes.filter((n) => n.healthy).map((n) => [n.id, n]));
  const p = res.placement;
  const unplaceable = new Set(res.unplaceable.map((u) => u.unit));
  const onNode = new Map<string, string[]>();
  for (const [u, ns] of Object.entries(p)) for (const n of ns) onNode.set(n, [...(onNode.get(n) ?? []), u]);
  const byName = new Map(units.map((u) => [u.name, u]));
  for (const u of units) {
    const ns = p[u.name] ?? [];
    // placed xor reported
    expect(
      ns.length > 0 !== unplaceable.has(u.name) || (u.global && ns.length > 0),
      `${u.name} placed or reported`,
    ).toBe(true);
    for (const n of ns) {
      expect(healthy.has(n), `${u.name} on healthy ${n}`).toBe(true);
      expect(metadataMatches(u.rules.metadata, metaOf(healthy.get(n)!)), `${u.name} metadata on ${n}`).toBe(
        true,
      );
      if (u.rules.machineId) expect(n).toBe(u.rules.machineId);
      for (const t of u.rules.machineOf) expect(p[t] ?? [], `${u.name} MachineOf ${t}`).toContain(n);
    }
    if (u.global) {
      const expected = [...healthy.values()]
        .filter((n) => metadataMatches(u.rules.metadata, metaOf(n)))
        .map((n) => n.id)
        .sort();
      expect(ns, `${u.name} Global on every match`).toEqual(expected);
    } else expect(ns.length).toBeLessThanOrEqual(1);
    // An unconstrained-but-metadata unit is only unplaceable when no healthy node matches.
    if (
      !u.global &&
      unplaceable.has(u.name) &&
      !u.rules.conflicts.length &&
      !u.rules.replaces.length &&
      !u.rules.machineOf.length &&
      !u.rules.machineId
    ) {
      const conflicted = units.some((v) =>
        [...v.rules.conflicts, ...v.rules.replaces].some((g) => globToRegExp(g).test(u.name)),
      );
      if (!conflicted)
        expect([...healthy.values()].some((n) => metadataMatches(u.rules.metadata, metaOf(n)))).toBe(false);
    }
  }
  for (const [n, us] of onNode) {
    for (const a of us)
      for (const b of us) {
        if (a === b) continue;
        const ua = byName.get(a)!;
        const clash = [...ua.rules.conflicts, ...ua.rules.replaces].some((g) => globToRegExp(g).test(b));
        expect(clash, `${a} and ${b} together on ${n}`).toBe(false);
      }
  }
}

function stableExcept(before: Placement, after: Placement, units: UnitSpec[], lostNode?: string) {
  for (const u of units) {
    if (u.global) continue;
    const was = before[u.name]?.[0];
    if (was && was !== lostNode) expect(after[u.name]?.[0], `${u.name} stays on ${was}`).toBe(was);
  }
}

describe("placement properties over random clusters", () => {
  for (let seed = 1; seed <= 60; seed++) {
    it(`seed ${seed}`, () => {
      const r = rng(seed);
      const nodes = randomNodes(r, r.int(1, 25));
      const units = randomUnits(r, { services: r.int(1, 12), maxInstances: 6, nodes });
      const res = placeUnits(nodes, units, {});
      checkRules(nodes, units, res);

      // Deterministic whatever the node order.
      const shuffled = [...nodes].sort(() => r.next() - 0.5);
      expect(placeUnits(shuffled, units, {})).toEqual(res);
      // Placing again from its own result moves nothing.
      expect(placeUnits(nodes, units, res.placement).moves).toEqual([]);

      // One node leaves: only what ran there moves.
      const healthyIds = nodes.filter((n) => n.healthy).map((n) => n.id);
      if (healthyIds.length) {
        const gone = r.pick(healthyIds);
        const left = nodes.map((n) => (n.id === gone ? { ...n, healthy: false } : n));
        const res2 = placeUnits(left, units, res.placement);
        checkRules(left, units, res2);
        stableExcept(res.placement, res2.placement, units, gone);
        for (const m of res2.moves) {
          const u = units.find((x) => x.name === m.unit)!;
          if (!u.global && m.from.length)
            expect(m.from, `${m.unit} moved though its node stayed`).toEqual([gone]);
        }
      }
      // One node joins: nothing placed moves.
      const joined = [
        ...nodes,
        {
          id: "i-new",
          role: r.pick(["main", "worker", "data"]),
          zone: "eu-west-1b",
          healthy: true,
          metadata: { disk: "ssd" },
        },
      ];
      const res3 = placeUnits(joined, units, res.placement);
      checkRules(joined, units, res3);
      stableExcept(res.placement, res3.placement, units);
    });
  }
});

describe("placement examples", () => {
  const n = (id: string, role: string, zone: string, healthy = true): PlacementNode => ({
    id,
    role,
    zone,
    healthy,
  });
  const u = (name: string, rules: Partial<UnitSpec["rules"]> = {}, global = false): UnitSpec => ({
    name,
    file: name.replace(/@[^.]*\./, "@."),
    service: name.split(/[@.]/)[0]!,
    global,
    start: true,
    spreadGroup: name.replace(/@[^.]*\./, "@."),
    volumes: [],
    rules: { machineOf: [], metadata: [], conflicts: [], replaces: [], global, ...rules },
  });
  const worker = [{ key: "role", values: ["worker"], notValues: [] }];

  it("spreads instances across zones before nodes", () => {
    const nodes = [n("i-1", "worker", "a"), n("i-2", "worker", "a"), n("i-3", "worker", "b")];
    const res = placeUnits(nodes, [
      u("web@1.service", { metadata: worker }),
      u("web@2.service", { metadata: worker }),
    ]);
    expect(new Set([res.placement["web@1.service"]![0], res.placement["web@2.service"]![0]])).toEqual(
      new Set(["i-1", "i-3"]),
    );
  });

  it("reports which unit cannot be placed and why, and places the rest", () => {
    const nodes = [n("i-1", "worker", "a"), n("i-2", "main", "a")];
    const units = [
      u("nginx@1.service", { metadata: worker, conflicts: ["nginx@*.service"] }),
      u("nginx@2.service", { metadata: worker, conflicts: ["nginx@*.service"] }),
      u("presence@nginx@2.service", { machineOf: ["nginx@2.service"] }),
      u("db.service", { metadata: [{ key: "role", values: ["data"], notValues: [] }] }),
      u("pinned.service", { machineId: "i-9" }),
    ];
    const res = placeUnits(nodes, units);
    expect(res.placement["nginx@1.service"]).toEqual(["i-1"]);
    expect(res.unplaceable).toEqual([
      {
        unit: "nginx@2.service",
        reason: expect.stringMatching(
          /1 do not match MachineMetadata role=worker; 1 already run a conflicting unit \(Conflicts\/Replaces nginx@\*\.service\)/,
        ),
      },
      { unit: "db.service", reason: expect.stringMatching(/2 do not match MachineMetadata role=data/) },
      { unit: "pinned.service", reason: "MachineID i-9 is not a healthy node" },
      { unit: "presence@nginx@2.service", reason: "MachineOf target nginx@2.service is not placed" },
    ]);
  });

  it("moves a sidecar with its unit when the unit's node goes", () => {
    const nodes = [n("i-1", "worker", "a"), n("i-2", "worker", "b")];
    const units = [
      u("web@1.service", { metadata: worker }),
      u("presence@web@1.service", { machineOf: ["web@1.service"] }),
    ];
    const first = placeUnits(nodes, units).placement;
    const from = first["web@1.service"]![0]!;
    const second = placeUnits(
      nodes.map((x) => (x.id === from ? { ...x, healthy: false } : x)),
      units,
      first,
    ).placement;
    expect(second["web@1.service"]).toEqual(second["presence@web@1.service"]);
    expect(second["web@1.service"]).not.toEqual([from]);
  });

  it("places a unit that Replaces another before it and never beside it", () => {
    const nodes = [n("i-1", "worker", "a"), n("i-2", "worker", "a")];
    const res = placeUnits(nodes, [u("old.service"), u("new.service", { replaces: ["old.service"] })]);
    expect(res.placement["new.service"]).toEqual(["i-1"]);
    expect(res.placement["old.service"]).toEqual(["i-2"]);
  });
});
