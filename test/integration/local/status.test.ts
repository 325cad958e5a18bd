// `status` reads etcd's members from whichever member answers: one dead member, even the first
// address asked, never makes the cluster look unreachable; with none left it says unreachable.
import { afterAll, describe, expect, it } from "vitest";
import { etcdMembers } from "../../../local/cluster/status.ts";
import { useRig } from "../../rig/index.ts";

const rig = useRig({ etcdMembers: 3 });
afterAll(() => rig.etcd?.stop());

describe("status: etcd members across endpoints, one member lost then all", { shuffle: false }, () => {
  it("with the first member killed, the others answer: reachable, the dead one unhealthy", async () => {
    const [dead, ...alive] = rig.etcd!.members;
    await dead!.proc.stop("SIGKILL", 0);
    // Also an address where nothing ever listened: it costs one refusal, not the answer.
    const ips = [dead!.ip, rig.block.address(99), ...alive.map((m) => m.ip)];
    // Reachable at every call; the survivors may report unhealthy for a moment if the dead member
    // led (they elect a new leader first), so ask until they are healthy or 15 s have passed.
    const until = Date.now() + 15_000;
    let s: Awaited<ReturnType<typeof etcdMembers>>;
    for (;;) {
      const t = Date.now();
      s = await etcdMembers(ips);
      expect(Date.now() - t).toBeLessThan(5000);
      expect(s.reachable).toBe(true);
      if (s.members.filter((m) => m.healthy).length === 2 || Date.now() > until) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(s.members.map((m) => [m.name, m.healthy]).sort()).toEqual([
      ["m1", false],
      ["m2", true],
      ["m3", true],
    ]);
    expect(s.members.filter((m) => m.leader)).toHaveLength(1);
  }, 30_000);

  it("with no member left it is unreachable", async () => {
    await Promise.all(rig.etcd!.members.map((m) => m.proc.stop("SIGKILL", 0)));
    expect(await etcdMembers(rig.etcd!.members.map((m) => m.ip))).toEqual({ reachable: false, members: [] });
  }, 30_000);
});
