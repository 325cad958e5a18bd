// The attachment rules: table cases, then a seeded random walk of a unit with volumes through node
// kills, failed pushes, duplicate and late terminate events: never two attachments, never a detach
// from a node where the unit runs, never a unit running without its volumes.
import { describe, expect, it } from "vitest";
import { planAttachments, type AttachmentsInput } from "../../../functions/domain/volumeAttachments.ts";
import type { VolumeNeed, VolumeRecord } from "../../../functions/domain/volumes.ts";

const need = (unit: string, volume: string): VolumeNeed => ({
  unit,
  service: "db",
  instance: unit.slice(0, unit.lastIndexOf(".")),
  volume,
  sizeGiB: 1,
  path: `/srv/${unit}-${volume}`,
});
const vol = (id: string, n: VolumeNeed, over: Partial<VolumeRecord> = {}): VolumeRecord => ({
  id,
  service: n.service,
  instance: n.instance,
  volume: n.volume,
  zone: "z",
  sizeGiB: 1,
  state: over.attachedTo ? "in-use" : "available",
  createdAt: `2026-01-01T00:00:0${id.slice(-1)}.000Z`,
  ...over,
});

const U = "db@1.service";
const DATA = need(U, "data");

const plan = (over: Partial<AttachmentsInput>) =>
  planAttachments({
    needs: [DATA],
    volumes: [],
    placement: {},
    reported: {},
    instanceStates: {},
    ...over,
  });

describe("planAttachments", () => {
  it("when the volume is free, it is attached to the unit's node and the unit may start", () => {
    const p = plan({
      volumes: [vol("vol-1", DATA)],
      placement: { [U]: ["i-b"] },
      instanceStates: { "i-b": "running" },
    });
    expect(p.actions).toEqual([{ kind: "attach", volumeId: "vol-1", to: "i-b", device: "/dev/xvdf" }]);
    expect(p.ready).toEqual([U]);
  });

  it("when the volume is on a running node that has not reported the unit stopped, nothing moves and the unit waits", () => {
    for (const reported of [{}, { "i-a": [U] }] as Record<string, string[]>[]) {
      const p = plan({
        volumes: [vol("vol-1", DATA, { attachedTo: "i-a", device: "/dev/xvdf" })],
        placement: { [U]: ["i-b"] },
        reported,
        instanceStates: { "i-a": "running", "i-b": "running" },
      });
      expect(p.actions).toEqual([]);
      expect(p.ready).toEqual([]);
      expect(p.held).toEqual([
        {
          unit: U,
          reason: expect.stringMatching(/attached to i-a, which has not reported the unit stopped/),
        },
      ]);
    }
  });

  it("when the old node reported the unit stopped, or is gone, the volume is detached there and attached to the new node", () => {
    for (const [states, reported, reason] of [
      [{ "i-a": "running" }, { "i-a": [] }, "unit-stopped"],
      [{ "i-a": "terminated" }, {}, "node-gone"],
      [{}, {}, "node-gone"],
    ] as [Record<string, string>, Record<string, string[]>, string][]) {
      const p = plan({
        volumes: [vol("vol-1", DATA, { attachedTo: "i-a", device: "/dev/xvdf" })],
        placement: { [U]: ["i-b"] },
        reported,
        instanceStates: { ...states, "i-b": "running" },
      });
      expect(p.actions).toEqual([
        { kind: "detach", volumeId: "vol-1", from: "i-a", reason },
        { kind: "attach", volumeId: "vol-1", to: "i-b", device: "/dev/xvdf" },
      ]);
      expect(p.ready).toEqual([U]);
    }
  });

  it("hands out device names a node does not use yet", () => {
    const other = need("db@2.service", "data");
    const p = planAttachments({
      needs: [DATA, need(U, "logs"), other],
      volumes: [
        vol("vol-1", DATA),
        vol("vol-2", need(U, "logs")),
        vol("vol-3", other, { attachedTo: "i-b", device: "/dev/xvdf" }),
      ],
      placement: { [U]: ["i-b"], "db@2.service": ["i-b"] },
      reported: {},
      instanceStates: { "i-b": "running" },
    });
    expect(p.actions.map((a) => (a.kind === "attach" ? a.device : ""))).toEqual(["/dev/xvdg", "/dev/xvdh"]);
    expect(p.ready.sort()).toEqual(["db@1.service", "db@2.service"]);
  });

  it("when a volume is in transition or missing, the unit waits with the reason", () => {
    expect(
      plan({ volumes: [vol("vol-1", DATA, { state: "creating" })], placement: { [U]: ["i-b"] } }).held,
    ).toEqual([{ unit: U, reason: "volume vol-1 is creating" }]);
    expect(plan({ placement: { [U]: ["i-b"] } }).held).toEqual([
      { unit: U, reason: "volume data does not exist yet" },
    ]);
  });
});

/** A small deterministic PRNG (mulberry32), so a failing walk is replayed from its seed. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("the fencing rules under a random walk", () => {
  const seed = Number(process.env.DEVCLUSTER_RANDOM_SEED ?? Date.now() % 1_000_000);
  it(`never two attachments, never a detach from a node where the unit runs (seed ${seed})`, () => {
    const random = rng(seed);
    const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!;
    const needs = [DATA, need(U, "logs"), need("db@2.service", "data")];
    const units = [...new Set(needs.map((n) => n.unit))];
    let moves = 0;
    for (let walk = 0; walk < 100; walk++) {
      let next = 0;
      const state = new Map<string, string>();
      const launch = () => {
        const id = `i-${++next}`;
        state.set(id, "running");
        return id;
      };
      for (let k = 0; k < 3; k++) launch();
      const volumes = needs.map((n, i) => vol(`vol-${i}`, n));
      const runs = new Map<string, Set<string>>(units.map((u) => [u, new Set()]));
      let placement: Record<string, string[]> = {};
      const alive = () => [...state].filter(([, s]) => s === "running").map(([id]) => id);
      const kill = (id: string) => {
        state.set(id, "terminated");
        for (const r of runs.values()) r.delete(id); // its processes die with it
      };
      const apply = (actions: ReturnType<typeof planAttachments>["actions"]) => {
        for (const a of actions) {
          const v = volumes.find((x) => x.id === a.volumeId)!;
          const unit = needs.find((n) => n.instance === v.instance)!.unit;
          if (a.kind === "detach") {
            expect(v.attachedTo).toBe(a.from);
            const running = state.get(a.from) === "running" && runs.get(unit)!.has(a.from);
            expect(running, `detached ${v.id} from ${a.from} while ${unit} runs there`).toBe(false);
            delete v.attachedTo;
            delete v.device;
            v.state = "available";
          } else {
            expect(v.attachedTo, `second attachment of ${v.id}`).toBeUndefined();
            Object.assign(v, { attachedTo: a.to, device: a.device, state: "in-use" });
          }
        }
      };
      // A push: each reachable node answers (or fails); it starts what is ready there, stops the rest.
      const push = (ready: string[], skip: string | undefined) => {
        const reported: Record<string, string[]> = {};
        for (const node of alive()) {
          if (node === skip || random() < 0.2) continue; // terminating (never pushed), or the push failed
          for (const u of units) {
            const here = placement[u]?.[0] === node && ready.includes(u);
            if (here) {
              for (const n of needs.filter((x) => x.unit === u)) {
                const v = volumes.find((x) => x.instance === n.instance && x.volume === n.volume)!;
                expect(v.attachedTo, `${u} started on ${node} without ${v.id}`).toBe(node);
              }
              runs.get(u)!.add(node);
            } else runs.get(u)!.delete(node);
          }
          reported[node] = units.filter((u) => runs.get(u)!.has(node));
        }
        return reported;
      };
      for (let step = 0; step < 30; step++) {
        const r = random();
        if (r < 0.15 && alive().length > 1) kill(pick(alive()));
        else if (r < 0.25) launch();
        else {
          // A sync, possibly for a terminate event that is late (its node already gone) or
          // duplicated, or for a node that is terminating but still runs.
          const terminating = random() < 0.3 ? pick([...state.keys()]) : undefined;
          const nodes = alive().filter((n) => n !== terminating);
          placement = Object.fromEntries(
            units.flatMap((u) => {
              const cur = placement[u]?.[0];
              const to = cur && nodes.includes(cur) ? cur : nodes.length ? pick(nodes) : undefined;
              return to ? [[u, [to]]] : [];
            }),
          );
          const states = Object.fromEntries(state);
          const input = { needs, placement, instanceStates: states };
          const first = planAttachments({ ...input, volumes, reported: {} });
          apply(first.actions);
          if (random() < 0.1 && alive().length > 1) kill(pick(alive())); // dies mid-sync
          const reported = push(first.ready, terminating);
          const second = planAttachments({
            ...input,
            volumes,
            reported,
            instanceStates: Object.fromEntries(state),
          });
          apply(second.actions);
          moves += second.actions.filter((a) => a.kind === "detach").length;
          push(second.ready, terminating);
        }
        for (const [u, nodes] of runs)
          expect(nodes.size, `${u} runs on ${[...nodes].join(", ")}`).toBeLessThanOrEqual(1);
      }
    }
    // The walk did exercise moves (a walk with none would prove nothing).
    expect(moves).toBeGreaterThan(25);
  });
});
