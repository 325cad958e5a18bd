// A lost cluster is not a new one: with a valid snapshot on record and no member alive, neither a main
// launch nor reconcile bootstraps an empty etcd over it; reconcile hands over to recovery. And the
// units hook: a launching worker gets its units before its lifecycle action completes.
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { handleLifecycle } from "../../../functions/operations/lifecycle.ts";
import { formatStep } from "../../../functions/domain/reportCodes.ts";
import { handleReconcile } from "../../../functions/operations/reconcile.ts";
import { nodeDir, nodePids } from "../../../local/node.ts";
import type { Role } from "../../../functions/domain/model.ts";
import { useRig } from "../../rig/index.ts";
import { createWorld, worldUnitsHook, type World } from "./lifecycleWorld.ts";

const rig = useRig({ moto: true, etcdMembers: 0 });
let w: World;
let formed = false;
const recoveries: string[] = [];

const launch = (role: Role, id: string) => handleLifecycle(w.event("launch", role, id), w.deps, w.log);

beforeAll(async () => {
  w = await createWorld({ prefix: rig.block.prefix, root: rig.dir, name: rig.unique("tl") });
  w.deps.units = worldUnitsHook(w);
  w.deps.history = { formedBefore: async () => formed };
  w.deps.recover = async () => {
    recoveries.push("called");
    return { action: "alarm", reason: "test: AUTO_RESTORE off" };
  };
  const mains = await w.scaleTo("main", 3);
  await Promise.all(mains.map((id) => launch("main", id)));
}, 90_000);
afterAll(() => w?.close());

// Total loss last: it kills every member (kept in order under --sequence.shuffle).
describe("a cluster that is then lost", { shuffle: false }, () => {
  describe("units through the lifecycle handler", () => {
    it("pushes a launching worker its Global units before completing, and starts them", async () => {
      const [id] = await w.scaleTo("worker", 1);
      const report = await launch("worker", id!);
      expect(report.result).toBe("CONTINUE");
      const steps = report.steps.map(formatStep);
      expect(steps.indexOf("LC_UNITS_PUSHED")).toBeLessThan(steps.indexOf("LC_COMPLETED CONTINUE"));
      const dir = nodeDir(w.root, id!);
      expect(existsSync(join(dir, "etc/systemd/system/etcd-amb.service"))).toBe(true);
      expect(existsSync(join(dir, "etc/systemd/system/multi-user.target.wants/etcd-amb.service"))).toBe(true);
      // main nodes got etcd-member (written, never restarted by a push) and nothing meant for workers
      for (const m of await w.ids("main")) {
        expect(existsSync(join(nodeDir(w.root, m), "etc/systemd/system/etcd-amb.service"))).toBe(false);
      }
    });
  });

  describe("discovery changes reach the gateways", () => {
    it("a main leaving rewrites _etcd-client._tcp and restarts etcd-amb on the workers", async () => {
      // Its own worker, launched (units pushed, etcd-amb started) before the main leaves.
      const [worker] = await w.scaleTo("worker", (await w.ids("worker")).length + 1);
      expect((await launch("worker", worker!)).result).toBe("CONTINUE");
      const before = statSync(join(nodeDir(w.root, worker!), "run/systemd/etcd-amb.service.state")).mtimeMs;
      const [main] = await w.ids("main");
      await w.terminate("main", main!);
      const report = await handleLifecycle(w.event("terminate", "main", main!), w.deps, w.log);
      expect(report.steps.map((s) => s.code)).toContain("LC_GATEWAYS_REFRESHED");
      const state = join(nodeDir(w.root, worker!), "run/systemd/etcd-amb.service.state");
      expect(readFileSync(state, "utf8").trim()).toBe("active");
      expect(statSync(state).mtimeMs).toBeGreaterThan(before);
    });
  });

  describe("total loss", () => {
    it("kills every member; reconcile does not bootstrap a new cluster but asks for recovery", async () => {
      formed = true;
      for (const id of await w.ids("main")) {
        for (const pid of nodePids(nodeDir(w.root, id))) process.kill(pid, "SIGKILL");
      }
      await expect
        .poll(async () => (await w.members().catch(() => null)) === null, { timeout: 10_000 })
        .toBe(true);
      const report = await handleReconcile(w.deps, w.log, { maxRounds: 2 });
      expect(recoveries).toEqual(["called"]);
      expect(report.blocked.find((b) => b.code === "RC_TOTAL_LOSS")?.detail).toMatch(/^alarm/);
      expect(report.repairs.filter((r) => r.code === "RC_BOOTSTRAPPED")).toEqual([]);
      expect(await w.members().catch(() => null)).toBeNull(); // nothing was started
    });

    it("a main launch during total loss completes CONTINUE without forming a cluster", async () => {
      const [id] = await w.scaleTo("main", 4);
      const report = await launch("main", id!);
      expect(report.result).toBe("CONTINUE");
      expect(report.steps.map((s) => s.code)).toContain("LC_ETCD_LOST");
      expect(report.steps.map((s) => s.code)).not.toContain("LC_REGISTERED");
      expect(await w.members().catch(() => null)).toBeNull();
    });

    it("with no snapshot on record the same state counts as a new cluster: reconcile goes for a bootstrap", async () => {
      formed = false;
      const report = await handleReconcile(
        { ...w.deps, timing: { ...w.deps.timing, bootstrapWaitMs: 2000 } },
        w.log,
        { maxRounds: 1 },
      );
      // Whether that bootstrap can succeed over the dead members' data is not the point: the snapshot
      // on record is the only thing that stopped it above.
      expect([...report.repairs, ...report.failed].some((r) => r.code === "RC_BOOTSTRAPPED")).toBe(true);
      expect(recoveries).toEqual(["called"]);
    });
  });
});
