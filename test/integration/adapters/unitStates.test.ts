// The unit-state publisher on a real etcd member: a local node started the way first boot starts it
// (systemctl enable --now through the node's command runner) publishes its units' states on a
// lease, follows a change, and takes its record with it when stopped; the status function's adapter
// reads the records back.
import { Etcd3 } from "etcd3";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { etcdUnitStates } from "../../../functions/adapters/etcd/unitStates.ts";
import { unitStatesKey } from "../../../functions/domain/etcdKeys.ts";
import { etcdClientUrl } from "../../../functions/domain/model.ts";
import { pollUntil } from "../../../functions/domain/poll.ts";
import { UNIT_STATES_UNIT_NAME, type PublishedUnitState } from "../../../functions/domain/unitStates.ts";
import { createLocalCommands } from "../../../local/commands.ts";
import { nodeDir, prepareLocalNode, stopNodeProcessesUnder } from "../../../local/node.ts";
import { useRig } from "../../rig/index.ts";

const rig = useRig({ etcdMembers: 1 });
const NODE = "i-0cc0000000000b001";
let client: Etcd3 | undefined;

afterAll(async () => {
  client?.close();
  await stopNodeProcessesUnder(rig.dir);
});

describe("unit states published by a node", () => {
  it("are in etcd on a lease, follow a change, and go when the publisher stops", async () => {
    const address = rig.block.address(11); // the member's: the node's own 127.0.0.1 here
    const root = join(rig.dir, "cluster");
    prepareLocalNode(root, NODE, "worker", {
      address,
      zone: "us-east-1a",
      clusterName: "t",
      stackName: "t",
      etcdTls: false,
      domain: "t.internal",
      zoneId: "Z1",
      snapshotBucket: "b",
      aws: {},
    });
    const dir = nodeDir(root, NODE);
    // A unit the last push left on the node (no container engine here: the stand-in marks it active).
    writeFileSync(
      join(dir, "etc/systemd/system/hello@.service"),
      "[Service]\nExecStart=/usr/bin/docker run --rm hello\n",
    );
    mkdirSync(join(dir, "var/lib/devcluster/units"), { recursive: true });
    writeFileSync(join(dir, "var/lib/devcluster/units/units"), "hello@1.service\n");
    // A 1 s interval (the program's setting) keeps the test short; the default is 10 s.
    const node = createLocalCommands({ root, env: { UNIT_STATES_INTERVAL: "1" } });
    const run = async (script: string) => {
      const [r] = await node.run({ instanceIds: [NODE], script, comment: "test", timeoutSeconds: 60 });
      expect(r?.status, r?.stderr).toBe("Success");
    };
    await run(`systemctl enable --now hello@1.service ${UNIT_STATES_UNIT_NAME}`);

    client = new Etcd3({ hosts: [etcdClientUrl(address)] });
    const states = etcdUnitStates(client);
    const published = (want: (s: PublishedUnitState[] | undefined) => boolean) =>
      pollUntil(
        async () => {
          const s = (await states.byMachine()).get(NODE);
          return want(s) ? (s ?? []) : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 250 },
      );
    const stateOf = (s: PublishedUnitState[] | undefined, u: string) => s?.find((x) => x.unit === u);

    const first = await published((s) => stateOf(s, "hello@1.service")?.state === "active");
    expect(first).toEqual([
      { unit: UNIT_STATES_UNIT_NAME, state: "active", enabled: true },
      { unit: "hello@1.service", state: "active", enabled: true },
    ]);
    const kv = (await client.get(unitStatesKey(NODE)).exec()).kvs[0]!;
    expect(kv.lease.toString()).not.toBe("0");

    await run("systemctl stop hello@1.service");
    expect(await published((s) => stateOf(s, "hello@1.service")?.state === "inactive")).toBeDefined();

    // systemd stops the publisher with SIGTERM: it revokes its lease, so the record goes at once.
    await run(`systemctl stop ${UNIT_STATES_UNIT_NAME}`);
    expect(await published((s) => s === undefined)).toEqual([]);
    expect(await client.get(unitStatesKey(NODE)).string()).toBeNull();
  }, 90_000);
});
