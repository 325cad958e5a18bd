// Recovery with TLS on, on a member serving TLS with required client certificates: the survivor's
// force-new-cluster script finds the certificate in the member's own settings, sees it healthy over
// https and starts it again with its data; a restore's swap keeps the member on TLS and brings back
// the snapshot's keys.
import { createWriteStream, existsSync, mkdirSync, readFileSync } from "node:fs";
import { pipeline } from "node:stream/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEtcdSnapshotApi } from "../../../functions/adapters/etcd/snapshots.ts";
import type { EtcdClientTls } from "../../../functions/adapters/etcd/tls.ts";
import { parseEnvFile } from "../../../functions/domain/etcdEnv.ts";
import { planRestore, startScript, swapScript } from "../../../functions/domain/restorePlan.ts";
import { forceNewClusterScript } from "../../../functions/domain/survivorPlan.ts";
import { createLocalCommands } from "../../../local/commands.ts";
import { nodeDir } from "../../../local/node.ts";
import { useRig } from "../../rig/index.ts";
import { startTlsMember, untilHealthy, type TlsMember } from "../../rig/tlsMember.ts";

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
  tls = member.controlPlaneTls;
}, 90_000);
afterAll(async () => member?.stop());

describe("recovery with TLS on", () => {
  it("forces a new cluster from the member's data, checking its health over https", async () => {
    const api = createEtcdSnapshotApi(tls);
    expect(await untilHealthy(member.endpoint, tls)).toBe(true);
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
    expect(await untilHealthy(member.endpoint, tls)).toBe(true);
    expect(await api.getPrefix(member.endpoint, "/cluster/kept")).toEqual([
      { key: "/cluster/kept", value: "yes" },
    ]);
    // Seconds when idle; the script's own bound (120 s of health probes) covers a loaded machine.
  }, 180_000);

  it("a restore's swap keeps the member on TLS and brings back the snapshot's keys", async () => {
    const api = createEtcdSnapshotApi(tls);
    expect(await untilHealthy(member.endpoint, tls)).toBe(true);
    await api.put(member.endpoint, [{ key: "/cluster/in-snapshot", value: "yes" }]);
    const id = "20261126T154000Z-tls";
    const dir = join(nodeDir(member.root, MAIN), "var/lib/etcd-restore");
    mkdirSync(dir, { recursive: true });
    const snap = await api.openSnapshot(member.endpoint);
    try {
      await pipeline(snap.stream, createWriteStream(join(dir, `${id}.db`)));
    } finally {
      snap.close();
    }
    await api.put(member.endpoint, [{ key: "/cluster/after-snapshot", value: "gone" }]);
    const plan = planRestore({
      cluster: "dev",
      manifest: { id },
      nodes: [{ instanceId: MAIN, privateIp: rig.block.address(41), zone: "z1" }],
      at: new Date(),
      random: "0badcafe",
    });
    const commands = createLocalCommands({ root: member.root });
    for (const [comment, script] of [
      ["swap", swapScript(plan, plan.members[0]!)],
      ["start", startScript(plan)],
    ] as const) {
      const [r] = await commands.run({ instanceIds: [MAIN], script, comment, timeoutSeconds: 120 });
      expect(r?.status, r?.stderr).toBe("Success");
    }
    const env = parseEnvFile(readFileSync(join(nodeDir(member.root, MAIN), "etc/etcd/etcd.env"), "utf8"));
    expect(env.ETCD_INITIAL_CLUSTER_TOKEN).toBe(plan.token);
    expect(env.ETCD_LISTEN_PEER_URLS).toBe(`https://${rig.block.address(41)}:2380`);
    expect(env.ETCD_CERT_FILE).toBe(join(nodeDir(member.root, MAIN), "etc/devcluster/pki/node.crt"));
    expect(await untilHealthy(member.endpoint, tls)).toBe(true);
    expect(await api.getPrefix(member.endpoint, "/cluster/in-snapshot")).toEqual([
      { key: "/cluster/in-snapshot", value: "yes" },
    ]);
    expect(await api.getPrefix(member.endpoint, "/cluster/after-snapshot")).toEqual([]);
  }, 180_000);
});
