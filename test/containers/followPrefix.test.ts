// The node programs' prefix follower against a real etcd: a change made after its first read but
// before its watch is established is still delivered (the race that left a front door without a
// service that announced itself while the node's etcd gateway was starting).
import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { followPrefix } from "../../containers/shared/etcd.ts";
import { createLogger } from "../../functions/runtime/log.ts";
import { useRig } from "../rig/index.ts";

const rig = useRig({ etcdMembers: 1 });
let etcd: Etcd3;
beforeAll(() => {
  etcd = new Etcd3({ hosts: rig.etcd!.endpoints });
});
afterAll(() => etcd?.close());

/** A client whose watches are created only when `open()` is called: the watch is late on purpose. */
function lateWatchClient(): { client: Etcd3; open: () => void } {
  const client = new Etcd3({ hosts: rig.etcd!.endpoints });
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const watch = client.watch.bind(client);
  client.watch = () => {
    const builder = watch();
    const create = builder.create.bind(builder);
    builder.create = () => gate.then(create);
    return builder;
  };
  return { client, open };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("followPrefix", () => {
  it("delivers a change made between the first read and the watch's start", async () => {
    const prefix = `/${rig.unique("fp")}/`;
    const { client, open } = lateWatchClient();
    const seen: Record<string, string>[] = [];
    const follower = followPrefix(client, prefix, (kvs) => void seen.push(kvs), {
      debounceMs: 20,
      log: createLogger({ program: "test" }, () => undefined),
    });
    try {
      await follower.ready;
      expect(seen).toEqual([{}]);
      // The change lands while no watch exists yet: only a read after the watch starts can see it.
      await etcd.put(`${prefix}a`).value("1");
      await sleep(200);
      expect(seen.at(-1)).toEqual({});
      open();
      const t0 = Date.now();
      while (!seen.at(-1)?.[`${prefix}a`] && Date.now() - t0 < 15_000) await sleep(20);
      expect(seen.at(-1)).toEqual({ [`${prefix}a`]: "1" });
      // And the watch itself works from then on.
      await etcd.put(`${prefix}b`).value("2");
      while (!seen.at(-1)?.[`${prefix}b`] && Date.now() - t0 < 15_000) await sleep(20);
      expect(seen.at(-1)).toEqual({ [`${prefix}a`]: "1", [`${prefix}b`]: "2" });
    } finally {
      await follower.close();
      client.close();
    }
  });
});
