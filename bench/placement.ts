// Bench: placement of 1,000 unit instances on 500 nodes (goal <= 50 ms), and SSM calls for one
// push to 100 nodes against moto (goal ceil(100/50) = 2 SendCommand). Run: npx tsx bench/placement.ts
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { SSMClient } from "@aws-sdk/client-ssm";
import { createSsmCommands } from "../functions/adapters/aws/ssmCommands.ts";
import { readCatalogDir } from "../functions/catalog/index.ts";
import { reserveLoopbackBlock } from "../local/loopback.ts";
import { startMoto } from "../local/moto.ts";
import {
  EMPTY_PLACEMENT,
  loadCatalog,
  placeUnits,
  planUnits,
  type PlacementNode,
  type UnitSpec,
} from "../functions/domain/units/index.ts";
import type { NodeRecord } from "../functions/domain/model.ts";

const RUNS = Number(process.env.RUNS ?? 30);
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const fmt = (ms: number) => `${ms.toFixed(2)} ms`;

function cluster(nodeCount: number, instances: number): { nodes: PlacementNode[]; units: UnitSpec[] } {
  const zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c"];
  const nodes: PlacementNode[] = Array.from({ length: nodeCount }, (_, i) => ({
    id: `i-${(0x10000 + i).toString(16)}`,
    role: i < 5 ? "main" : i < nodeCount * 0.8 ? "worker" : "data",
    zone: zones[i % 3]!,
    healthy: true,
  }));
  const units: UnitSpec[] = [];
  const mk = (name: string, file: string, rules: Partial<UnitSpec["rules"]>, global = false): UnitSpec => ({
    name,
    file,
    service: file,
    global,
    start: true,
    spreadGroup: file,
    volumes: [],
    rules: { machineOf: [], metadata: [], conflicts: [], replaces: [], global, ...rules },
  });
  units.push(
    mk(
      "etcd-member.service",
      "etcd-member.service",
      { metadata: [{ key: "role", values: ["main"], notValues: [] }] },
      true,
    ),
  );
  units.push(
    mk(
      "etcd-amb.service",
      "etcd-amb.service",
      { metadata: [{ key: "role", values: ["worker", "data"], notValues: [] }] },
      true,
    ),
  );
  // 1,000 instances: 100 services x 5 instances, each with a presence sidecar (MachineOf); every
  // other service conflicts with itself (one per node); a tenth run on data nodes.
  for (let s = 0; units.filter((u) => !u.global).length < instances; s++) {
    const file = `svc${s}@.service`;
    const role = s % 10 === 0 ? "data" : "worker";
    for (let i = 1; i <= 5; i++) {
      const name = `svc${s}@${i}.service`;
      units.push(
        mk(name, file, {
          metadata: [{ key: "role", values: [role], notValues: [] }],
          conflicts: s % 2 ? [`svc${s}@*.service`] : [],
        }),
      );
      units.push(mk(`presence@svc${s}@${i}.service`, "presence@.service", { machineOf: [name] }));
    }
  }
  return { nodes, units };
}

function benchPlacement() {
  const { nodes, units } = cluster(500, 1000);
  const placedInstances = units.filter((u) => !u.global).length;
  const cold: number[] = [];
  const warm: number[] = [];
  const t0 = performance.now();
  let result = placeUnits(nodes, units, {});
  const first = performance.now() - t0;
  for (let r = 0; r < 5; r++) placeUnits(nodes, units, {}); // warm-up (JIT), as in a warm container
  for (let r = 0; r < RUNS; r++) {
    let t = performance.now();
    result = placeUnits(nodes, units, {});
    cold.push(performance.now() - t);
    // A node leaves: re-place from the current placement.
    const left = nodes.map((n, i) => (i === 100 + (r % 50) ? { ...n, healthy: false } : n));
    t = performance.now();
    placeUnits(left, units, result.placement);
    warm.push(performance.now() - t);
  }
  console.log(
    `placement: ${placedInstances} unit instances (+2 Global units on ${nodes.length} nodes) on ${nodes.length} nodes, ${RUNS} runs`,
  );
  console.log(`  first call (cold JIT): ${fmt(first)}`);
  console.log(
    `  from scratch:       median ${fmt(pct(cold, 50))}, p95 ${fmt(pct(cold, 95))} (goal <= 50 ms)`,
  );
  console.log(`  one node leaving:   median ${fmt(pct(warm, 50))}, p95 ${fmt(pct(warm, 95))}`);
  console.log(`  unplaceable: ${result.unplaceable.length}`);
}

async function benchSsm() {
  const block = reserveLoopbackBlock();
  const dir = mkdtempSync(join(tmpdir(), "devcluster-bench-"));
  const moto = await startMoto({ host: block.address(1), dir });
  try {
    Object.assign(process.env, moto.env);
    const ssm = new SSMClient({});
    const calls: Record<string, number> = {};
    ssm.middlewareStack.add(
      (next, ctx) => async (args) => {
        calls[ctx.commandName ?? "?"] = (calls[ctx.commandName ?? "?"] ?? 0) + 1;
        return next(args);
      },
      { step: "initialize" },
    );
    const catalog = loadCatalog(readCatalogDir());
    const nodes: NodeRecord[] = Array.from({ length: 100 }, (_, i) => ({
      instanceId: `i-${(0x20000 + i).toString(16)}`,
      role: i < 3 ? "main" : i < 90 ? "worker" : "data",
      zone: ["a", "b", "c"][i % 3]!,
      group: "g",
      privateIp: "127.0.0.1",
      state: "active",
      updatedAt: "",
    }));
    const plan = planUnits({ catalog, nodes, state: EMPTY_PLACEMENT });
    const commands = createSsmCommands({ ssm, pollMs: 50, maxPollMs: 200 });
    const t = performance.now();
    let ok = 0;
    for (const req of plan.requests)
      ok += (await commands.run(req)).filter((r) => r.status === "Success").length;
    const ms = performance.now() - t;
    const scriptBytes = plan.requests.map((r) => Buffer.byteLength(r.script));
    console.log(
      `ssm push to ${nodes.length} nodes (moto): ${plan.requests.length} request(s), script ${scriptBytes.join("+")} bytes`,
    );
    console.log(
      `  SendCommand calls: ${calls.SendCommandCommand ?? 0} (goal ceil(100/50) = 2); result polls: ${JSON.stringify(Object.fromEntries(Object.entries(calls).filter(([k]) => k !== "SendCommandCommand")))}`,
    );
    console.log(`  ${ok}/${nodes.length} nodes Success in ${ms.toFixed(0)} ms`);
  } finally {
    await moto.stop();
    block.release();
    rmSync(dir, { recursive: true, force: true });
  }
}

benchPlacement();
await benchSsm();
