// The discovery race, reproduced deterministically: a main node's launch registers it while a
// concurrent DNS sync holds the lock; that sync covers the launch's registry revision, so the launch
// returns "dns covered by a concurrent sync". The new member's etcd comes up a moment after its start
// command reports success (as with SSM: the command returns when `systemctl start` does, before the
// member has joined). If the node were registered before its member serves, the covering sync would
// read a nameless member, leave it out of `_etcd-server._tcp`, and no later event would add it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { handleLifecycle } from "../../../functions/operations/lifecycle.ts";
import { syncLocked } from "../../../functions/operations/dnsSync.ts";
import { etcdClientUrl } from "../../../functions/domain/model.ts";
import type { CommandRequest, CommandResult } from "../../../functions/ports/index.ts";
import { useRig } from "../../rig/index.ts";
import { createWorld, type World } from "./lifecycleWorld.ts";

const rig = useRig({ moto: true, etcdMembers: 0 });
let w: World;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  w = await createWorld({ prefix: rig.block.prefix, root: rig.dir, name: rig.unique("race") });
  const ids = await w.scaleTo("main", 3);
  await Promise.all(ids.map((id) => handleLifecycle(w.event("launch", "main", id), w.deps, w.log)));
}, 90_000);
afterAll(() => w?.close());

describe("dns sync and a joining member", () => {
  it("a sync that covers a main launch's registration lists the new member in _etcd-server._tcp", async () => {
    const [fresh] = await w.scaleTo("main", 4);
    const real = w.deps.commands;
    const late: Promise<unknown>[] = [];
    const commands = {
      async run(req: CommandRequest): Promise<CommandResult[]> {
        if (!req.comment?.includes("etcd start settings") || !req.instanceIds.includes(fresh!))
          return real.run(req);
        // Success now; the member starts 1.5 s later.
        late.push(sleep(1500).then(() => real.run(req)));
        return req.instanceIds.map((instanceId) => ({
          instanceId,
          status: "Success",
          exitCode: 0,
          stdout: "",
          stderr: "",
        }));
      },
    };
    const mainIps = await Promise.all((await w.ids("main")).map(w.ipOf));
    const store = w.deps.store(mainIps.map(etcdClientUrl));

    // The concurrent sync: it holds the dns lock, and runs its round as soon as the node is registered.
    const lock = await store.tryLock("dns", "concurrent", { ttlSeconds: 60, waitMs: 5000 });
    expect(lock).toBeDefined();
    const launching = handleLifecycle(w.event("launch", "main", fresh!), { ...w.deps, commands }, w.log);
    const until = Date.now() + 30_000;
    while (!(await store.getNode(fresh!)) && Date.now() < until) await sleep(20);
    expect(await store.getNode(fresh!)).toBeDefined();
    await syncLocked(store, w.deps.dns, w.log, {
      domain: w.domain,
      owner: "concurrent",
      coalesceMs: 0,
      deadlineMs: 10_000,
    });
    await lock!.release();

    const r = await launching;
    await Promise.all(late);
    expect(r.result, JSON.stringify(r)).toBe("CONTINUE");
    // The interleaving under test happened: the launch's own sync was covered by the concurrent one.
    expect(r.steps.map((s) => s.code)).toContain("LC_DNS_COVERED");
    // The member started (only started members carry their name) and joined; the launch may
    // already have promoted it.
    const member = (await w.members()).find((m) => m.name === fresh);
    expect(member, "the new member, started and named").toBeDefined();
    const server = (await w.records()).find(
      (x) => x.type === "SRV" && x.name.startsWith("_etcd-server._tcp."),
    );
    expect(server?.values).toContain(`0 0 2380 ${fresh}.${w.domain}.`);
  }, 120_000);
});
