// The placement rules, each proved on its own: Conflicts (either side declaring), MachineOf,
// MachineID, Global, MachineMetadata, the spread across zones then nodes then load, what stays where
// it is, and the moves and reasons reported.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  globToRegExp,
  placeUnits,
  unitsByNode,
  type Placement,
  type PlacementNode,
  type UnitSpec,
} from "../../../../functions/domain/units/index.ts";

const node = (id: string, zone = "a", o: Partial<PlacementNode> = {}): PlacementNode => ({
  id,
  role: "worker",
  zone,
  healthy: true,
  ...o,
});
const unit = (name: string, rules: Partial<UnitSpec["rules"]> = {}, global = false): UnitSpec => {
  const file = name.replace(/@[^.]*\./, "@.");
  return {
    name,
    file,
    service: name.split(/[@.]/)[0]!,
    global,
    start: true,
    spreadGroup: file,
    volumes: [],
    rules: { machineOf: [], metadata: [], conflicts: [], replaces: [], global, ...rules },
  };
};
const role = (...values: string[]) => [{ key: "role", values, notValues: [] }];

describe("Conflicts", () => {
  it("keeps units apart whichever side declares it", () => {
    const one = [node("i-1")];
    // The declaring unit is placed first, then the other; and the other way round.
    expect(
      placeUnits(one, [unit("a.service", { conflicts: ["b.service"] }), unit("b.service")]).unplaceable.map(
        (u) => u.unit,
      ),
    ).toEqual(["b.service"]);
    expect(
      placeUnits(one, [unit("b.service"), unit("a.service", { conflicts: ["b.service"] })]).unplaceable.map(
        (u) => u.unit,
      ),
    ).toEqual(["a.service"]);
  });

  it("says which rule stopped a unit, naming another unit's rule when it has none of its own", () => {
    const res = placeUnits(
      [node("i-1")],
      [unit("a.service", { conflicts: ["b.service"] }), unit("b.service")],
    );
    expect(res.unplaceable).toEqual([
      {
        unit: "b.service",
        reason:
          "no eligible node among 1 healthy node(s): 1 already run a conflicting unit (Conflicts/Replaces of another unit)",
      },
    ]);
  });

  it("names every rule of the unit that was stopped", () => {
    const units = [unit("a.service"), unit("b.service", { conflicts: ["a.service", "c.service"] })];
    expect(placeUnits([node("i-1")], units).unplaceable).toEqual([
      {
        unit: "b.service",
        reason:
          "no eligible node among 1 healthy node(s): 1 already run a conflicting unit (Conflicts/Replaces a.service c.service)",
      },
    ]);
  });

  it("gives the first listed of equal units the contested node", () => {
    const units = ["x", "y", "z"].map((n) => unit(`${n}.service`, { conflicts: ["*.service"] }));
    expect(placeUnits([node("i-1")], units).placement).toEqual({ "x.service": ["i-1"] });
  });

  it("never puts conflicting units on one node, whatever the catalog (property)", () => {
    const arb = fc.record({
      nodes: fc.integer({ min: 0, max: 5 }),
      units: fc.array(
        fc.record({
          svc: fc.constantFrom("a", "b", "c"),
          conflicts: fc.subarray(["a@*.service", "b@*.service", "c@*.service", "b@1.service"]),
        }),
        { maxLength: 10 },
      ),
    });
    fc.assert(
      fc.property(arb, ({ nodes, units }) => {
        const specs = units.map((u, i) => unit(`${u.svc}@${i}.service`, { conflicts: u.conflicts }));
        const res = placeUnits(
          Array.from({ length: nodes }, (_, i) => node(`i-${i}`, i % 2 ? "a" : "b")),
          specs,
        );
        for (const [, names] of unitsByNode(res.placement)) {
          for (const x of names)
            for (const y of names) {
              if (x === y) continue;
              const sx = specs.find((s) => s.name === x)!;
              expect(
                sx.rules.conflicts.some((g) => globToRegExp(g).test(y)),
                `${x} beside ${y}`,
              ).toBe(false);
            }
        }
        // Every unit is placed or reported, never both.
        for (const s of specs)
          expect(s.name in res.placement).toBe(!res.unplaceable.some((u) => u.unit === s.name));
      }),
    );
  });
});

describe("MachineOf", () => {
  it("refuses a target outside the catalog, or a cycle, instead of failing", () => {
    const res = placeUnits(
      [node("i-1")],
      [unit("side.service", { machineOf: ["ghost.service", "other.service"] })],
    );
    expect(res.unplaceable).toEqual([
      { unit: "side.service", reason: "MachineOf target ghost.service, other.service is not placed" },
    ]);
    const cycle = placeUnits(
      [node("i-1")],
      [unit("a.service", { machineOf: ["b.service"] }), unit("b.service", { machineOf: ["a.service"] })],
    );
    expect(cycle.placement).toEqual({});
    expect(cycle.unplaceable.map((u) => u.unit).sort()).toEqual(["a.service", "b.service"]);
  });

  it("refuses targets that run on different nodes", () => {
    const units = [
      unit("a.service", { conflicts: ["b.service"] }),
      unit("b.service"),
      unit("side.service", { machineOf: ["a.service", "b.service"] }),
    ];
    const res = placeUnits([node("i-1"), node("i-2")], units);
    expect(res.unplaceable).toEqual([
      { unit: "side.service", reason: "MachineOf targets a.service, b.service run on different nodes" },
    ]);
  });

  it("keeps a unit beside a Global target on the node it already runs on", () => {
    const units = [unit("agent.service", {}, true), unit("side.service", { machineOf: ["agent.service"] })];
    const nodes = [node("i-1"), node("i-2")];
    expect(placeUnits(nodes, units).placement["side.service"]).toEqual(["i-1"]);
    const res = placeUnits(nodes, units, { "agent.service": ["i-1", "i-2"], "side.service": ["i-2"] });
    expect(res.placement["side.service"]).toEqual(["i-2"]);
    expect(res.moves).toEqual([]);
  });

  it("says when its targets' node does not suit it", () => {
    const units = [
      unit("web.service", { machineId: "i-2" }),
      unit("db.service", { machineId: "i-2" }),
      unit("side.service", { machineOf: ["web.service", "db.service"], metadata: role("data") }),
    ];
    expect(placeUnits([node("i-1"), node("i-2")], units).unplaceable).toEqual([
      {
        unit: "side.service",
        reason:
          "no eligible node among the node(s) of web.service, db.service: 1 do not match MachineMetadata role=data",
      },
    ]);
  });

  it("drops a unit whose target has left the catalog, without failing", () => {
    const res = placeUnits([node("i-1")], [unit("side.service", { machineOf: ["gone.service"] })], {
      "side.service": ["i-1"],
      "gone.service": ["i-1"],
    });
    expect(res.placement).toEqual({});
    expect(res.moves).toEqual([
      { unit: "side.service", from: ["i-1"], to: [] },
      { unit: "gone.service", from: ["i-1"], to: [] },
    ]);
  });
});

describe("MachineID", () => {
  const nodes = [node("i-1", "a", { machineId: "m-1" }), node("i-2", "a", { machineId: "m-2" })];
  it("pins a unit to the node with that instance id or that machine id", () => {
    expect(placeUnits(nodes, [unit("p.service", { machineId: "i-2" })]).placement).toEqual({
      "p.service": ["i-2"],
    });
    expect(placeUnits(nodes, [unit("p.service", { machineId: "m-2" })]).placement).toEqual({
      "p.service": ["i-2"],
    });
    expect(
      placeUnits(nodes, [unit("p.service", { machineId: "m-2" })], { "p.service": ["i-2"] }).moves,
    ).toEqual([]);
  });
  it("says when the pinned node does not match the unit's metadata", () => {
    const res = placeUnits(nodes, [unit("p.service", { machineId: "i-2", metadata: role("data") })]);
    expect(res.unplaceable).toEqual([
      {
        unit: "p.service",
        reason: "no eligible node among MachineID i-2: 1 do not match MachineMetadata role=data",
      },
    ]);
  });
  it("leaves units without MachineID where they run on nodes that have a machine id", () => {
    expect(placeUnits(nodes, [unit("u.service")], { "u.service": ["i-2"] }).moves).toEqual([]);
  });
});

describe("Global", () => {
  it("runs on every healthy node whose metadata matches, and is reported only when there is none", () => {
    const nodes = [
      node("i-2"),
      node("i-1"),
      node("i-3", "a", { role: "main" }),
      node("i-4", "a", { healthy: false }),
    ];
    const res = placeUnits(nodes, [
      unit("g.service", { metadata: role("worker") }, true),
      unit("d.service", { metadata: role("data") }, true),
    ]);
    expect(res.placement).toEqual({ "g.service": ["i-1", "i-2"] });
    expect(res.unplaceable).toEqual([
      { unit: "d.service", reason: "Global: no healthy node matches MachineMetadata role=data" },
    ]);
  });
  it("reports no move when only the order of its current nodes differs", () => {
    expect(
      placeUnits([node("i-1"), node("i-2")], [unit("g.service", {}, true)], { "g.service": ["i-2", "i-1"] })
        .moves,
    ).toEqual([]);
  });
});

describe("metadata", () => {
  it("moves a unit off a node whose metadata no longer matches", () => {
    const nodes = [node("i-1", "a", { role: "main" }), node("i-2")];
    const res = placeUnits(nodes, [unit("w.service", { metadata: role("worker") })], {
      "w.service": ["i-1"],
    });
    expect(res.placement).toEqual({ "w.service": ["i-2"] });
    expect(res.moves).toEqual([{ unit: "w.service", from: ["i-1"], to: ["i-2"] }]);
  });
  it("holds a unit to the zone it names (where its data volume lives)", () => {
    const nodes = [node("i-1", "eu-west-1a"), node("i-2", "eu-west-1b"), node("i-3", "eu-west-1b")];
    const res = placeUnits(
      nodes,
      [unit("db.service", { metadata: [{ key: "zone", values: ["eu-west-1b"], notValues: [] }] })],
      { "db.service": ["i-1"] },
    );
    expect(res.placement).toEqual({ "db.service": ["i-2"] });
  });
  it("counts the nodes that do not match in the reason", () => {
    const res = placeUnits([node("i-1"), node("i-2")], [unit("d.service", { metadata: role("data") })]);
    expect(res.unplaceable).toEqual([
      {
        unit: "d.service",
        reason: "no eligible node among 2 healthy node(s): 2 do not match MachineMetadata role=data",
      },
    ]);
  });
  it("places nothing on no healthy node, and says so", () => {
    expect(placeUnits([node("i-1", "a", { healthy: false })], [unit("u.service")]).unplaceable).toEqual([
      { unit: "u.service", reason: "no healthy nodes" },
    ]);
  });
});

describe("spread", () => {
  it("balances a file's instances over zones, then over the nodes of each zone (property)", () => {
    const arb = fc.record({
      zones: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }), // nodes per zone
      count: fc.integer({ min: 1, max: 12 }),
      order: fc.integer(),
    });
    fc.assert(
      fc.property(arb, ({ zones, count, order }) => {
        const nodes = zones.flatMap((k, z) =>
          Array.from({ length: k }, (_, i) => node(`i-${z}${i}`, `z${z}`)),
        );
        // Node order must not matter: rotate the list.
        const rot = ((order % nodes.length) + nodes.length) % nodes.length;
        const res = placeUnits(
          [...nodes.slice(rot), ...nodes.slice(0, rot)],
          Array.from({ length: count }, (_, i) => unit(`web@${i}.service`)),
        );
        const perNode = new Map(nodes.map((n) => [n.id, 0]));
        for (const ns of Object.values(res.placement))
          for (const n of ns) perNode.set(n, perNode.get(n)! + 1);
        const perZone = zones.map((k, z) => Array.from({ length: k }, (_, i) => perNode.get(`i-${z}${i}`)!));
        const zoneTotals = perZone.map((xs) => xs.reduce((a, b) => a + b, 0));
        expect(Math.max(...zoneTotals) - Math.min(...zoneTotals)).toBeLessThanOrEqual(1);
        for (const xs of perZone) expect(Math.max(...xs) - Math.min(...xs)).toBeLessThanOrEqual(1);
      }),
    );
  });

  it("puts a unit of another file on the least loaded node, then on the lowest id", () => {
    const res = placeUnits(
      [node("i-2"), node("i-1"), node("i-3")],
      [unit("a.service"), unit("b.service"), unit("c.service"), unit("d.service")],
    );
    expect(res.placement).toEqual({
      "a.service": ["i-1"],
      "b.service": ["i-2"],
      "c.service": ["i-3"],
      "d.service": ["i-1"],
    });
  });

  it("prefers a node without an instance of the same file over a less loaded one", () => {
    const nodes = [node("i-1"), node("i-2")];
    const units = [unit("x.service"), unit("y.service"), unit("web@1.service"), unit("web@2.service")];
    const res = placeUnits(nodes, units, {
      "x.service": ["i-1"],
      "y.service": ["i-1"],
      "web@1.service": ["i-2"],
    });
    expect(res.placement["web@2.service"]).toEqual(["i-1"]);
  });

  it("keeps the lowest-id node of a unit listed on several", () => {
    expect(
      placeUnits([node("i-1"), node("i-2")], [unit("u.service")], { "u.service": ["i-2", "i-1"] }).placement,
    ).toEqual({ "u.service": ["i-1"] });
  });
});

describe("moves", () => {
  it("list every unit whose nodes changed, including new and removed ones", () => {
    const res = placeUnits([node("i-1"), node("i-2")], [unit("new.service"), unit("same.service")], {
      "same.service": ["i-1"],
      "z-old.service": ["i-1"],
      "old.service": ["i-2", "i-1"],
      "empty.service": [],
    });
    expect(res.moves).toEqual([
      { unit: "new.service", from: [], to: ["i-2"] },
      { unit: "old.service", from: ["i-1", "i-2"], to: [] },
      { unit: "z-old.service", from: ["i-1"], to: [] },
    ]);
  });
});

describe("units by node", () => {
  it("inverts a placement, names sorted", () => {
    const p: Placement = { "b.service": ["i-1"], "a.service": ["i-1", "i-2"], "c.service": ["i-2"] };
    expect(unitsByNode(p)).toEqual(
      new Map([
        ["i-1", ["a.service", "b.service"]],
        ["i-2", ["a.service", "c.service"]],
      ]),
    );
    expect(unitsByNode({})).toEqual(new Map());
  });
});
