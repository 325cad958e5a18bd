// Recovery from the survivor with TLS on: the force-new-cluster script, run on a member serving TLS
// with required client certificates, finds the certificate in the member's own settings, sees it
// healthy over https and starts it again with its data.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEtcdSnapshotApi } from "../../../functions/adapters/etcd/snapshots.ts";
import type { EtcdClientTls } from "../../../functions/adapters/etcd/tls.ts";
import { pollUntil } from "../../../functions/domain/poll.ts";
import { forceNewClusterScript } from "../../../functions/domain/survivorPlan.ts";
import { createLocalCommands } from "../../../local/commands.ts";
import { nodeDir } from "../../../local/node.ts";
import { useRig } from "../../rig/index.ts";
import { startTlsMember, type TlsMember } from "../../rig/tlsMember.ts";

const rig = useRig();
const MAIN = "i-0ee0000000000a001";
let member: TlsMember;
let tls: EtcdClientTls;

beforeAll(async () => {
  member = await startTlsMember({
    dir: rig.dir,
    token: rig.unique("t"),
    nodes: [{ id: MAIN, ip: rig.block.address(41), role: "main" }],
  });
  tls = {
    caPem: member.ca.certPem,
    certPem: member.controlPlane.certPem,
    keyPem: member.controlPlane.keyPem,
  };
}, 90_000);
afterAll(async () => member?.stop());

describe("recovery from the survivor with TLS on", () => {
  it("forces a new cluster from the member's data, checking its health over https", async () => {
    const api = createEtcdSnapshotApi(tls);
    // A member answers within seconds of its start; 30 s covers a loaded machine.
    const healthy = () =>
      pollUntil(async () => ((await api.healthy(member.endpoint)) ? true : undefined), {
        timeoutMs: 30_000,
        intervalMs: 200,
      });
    expect(await healthy()).toBe(true);
    await api.put(member.endpoint, [{ key: "/cluster/kept", value: "yes" }]);
    const stamp = "20261126T153000Z";
    const [r] = await createLocalCommands({ root: member.root }).run({
      instanceIds: [MAIN],
      script: forceNewClusterScript(stamp, rig.block.address(41)),
      comment: "force new cluster",
      timeoutSeconds: 180,
    });
    expect(r?.status, r?.stderr).toBe("Success");
    expect(r?.stdout).toContain("forced a new cluster from this member's data");
    expect(existsSync(join(nodeDir(member.root, MAIN), `var/lib/etcd.before-recovery-${stamp}`))).toBe(true);
    expect(await healthy()).toBe(true);
    expect(await api.getPrefix(member.endpoint, "/cluster/kept")).toEqual([
      { key: "/cluster/kept", value: "yes" },
    ]);
    // Seconds when idle; the script's own bound (120 s of health probes) covers a loaded machine.
  }, 180_000);
});
