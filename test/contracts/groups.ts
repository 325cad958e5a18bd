// What every Groups port answers (groups with their role and members, instances by id), run against
// the in-memory fake and Auto Scaling + EC2 in moto (test/integration/contracts/groups.test.ts).
import { describe, expect, it } from "vitest";
import type { Role } from "../../functions/domain/model.ts";
import type { Groups } from "../../functions/ports/index.ts";

export interface GroupsSubject {
  groups: Groups;
  /** The group of this role (created empty, tagged with the role). */
  name(role: Role): string;
  scaleTo(role: Role, n: number): Promise<string[]>;
  /** Terminates one instance and lowers the desired size. */
  terminate(role: Role, id: string): Promise<void>;
}

/** Each call: groups of every role, created empty, that no other test uses. */
export function groupsContract(name: string, subject: () => Promise<GroupsSubject>): void {
  describe(`Groups contract: ${name}`, () => {
    it("describes named groups with their role, sizes and InService members; unknown names are left out", async () => {
      const s = await subject();
      const ids = await s.scaleTo("worker", 2);
      expect(ids).toHaveLength(2);
      const gs = await s.groups.describeGroups([s.name("worker"), s.name("data"), "no-such-group"]);
      expect(gs.map((g) => g.name).sort()).toEqual([s.name("worker"), s.name("data")].sort());
      const w = gs.find((g) => g.name === s.name("worker"))!;
      expect(w).toMatchObject({ role: "worker", desired: 2, min: 0 });
      expect(w.max).toBeGreaterThanOrEqual(2);
      expect(w.members.map((m) => m.instanceId).sort()).toEqual([...ids].sort());
      for (const m of w.members) {
        expect(m.lifecycleState).toBe("InService");
        expect(m.healthStatus).toBe("Healthy");
        expect(m.zone).toMatch(/^[a-z]{2}-[a-z]+-\d[a-z]$/);
      }
      expect(gs.find((g) => g.name === s.name("data"))).toMatchObject({
        role: "data",
        desired: 0,
        members: [],
      });
      expect(await s.groups.describeGroups([])).toEqual([]);
    });

    it("describes instances by id with private address and zone; unknown ids are left out, not an error", async () => {
      const s = await subject();
      const [id] = await s.scaleTo("data", 1);
      const got = await s.groups.describeInstances([id!, "i-0123456789abcdef0"]);
      expect(got).toHaveLength(1);
      expect(got[0]).toMatchObject({ instanceId: id, state: "running" });
      expect(got[0]!.privateIp).toMatch(/^127\.\d+\.\d+\.\d+$/);
      expect(got[0]!.zone).toMatch(/^[a-z]{2}-[a-z]+-\d[a-z]$/);
      expect(await s.groups.describeInstances(["i-0123456789abcdef0"])).toEqual([]);
      expect(await s.groups.describeInstances([])).toEqual([]);
    });

    it("a terminated instance leaves its group, the desired size drops, and it is no longer running", async () => {
      const s = await subject();
      const ids = await s.scaleTo("main", 2);
      await s.terminate("main", ids[0]!);
      const [g] = await s.groups.describeGroups([s.name("main")]);
      expect(g!.desired).toBe(1);
      const live = g!.members
        .filter((m) => !m.lifecycleState.startsWith("Terminat"))
        .map((m) => m.instanceId);
      expect(live).toEqual([ids[1]]);
      const [inst] = await s.groups.describeInstances([ids[0]!]);
      expect(inst?.state ?? "terminated").not.toBe("running");
    });
  });
}
