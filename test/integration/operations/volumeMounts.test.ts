// The push script's volume steps on real node directories (the local runner and node stand-ins):
// a volume is mounted before its unit starts, formatted only the first time, unmounted after the
// unit stopped, and follows the unit to another node with its files; a unit never starts without it.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EMPTY_PLACEMENT, type StoredPlacement } from "../../../functions/domain/units/index.ts";
import type { NodeRecord } from "../../../functions/domain/model.ts";
import { etcdClientUrl } from "../../../functions/domain/model.ts";
import { syncUnits, type UnitsDeps } from "../../../functions/operations/units.ts";
import { createLocalCommands } from "../../../local/commands.ts";
import { nodeDir, prepareLocalNode, stopNodeProcessesUnder } from "../../../local/node.ts";
import { readLedger } from "../../../local/volumes.ts";
import { FakeEtcd, fakeClusterStore } from "../../fakes/clusterStore.ts";
import { FakeVolumes } from "../../fakes/volumes.ts";
import { quietLog } from "../../fakes/world.ts";

const root = mkdtempSync(join(tmpdir(), "devcluster-volmounts-"));
afterAll(async () => {
  await stopNodeProcessesUnder(root);
  rmSync(root, { recursive: true, force: true });
});

// Not a container unit: the systemctl stand-in marks it active (the mount is what is tested here).
const db = (machine: string) =>
  [
    "[Unit]",
    "Description=db",
    "[Service]",
    "ExecStart=/usr/bin/sleep infinity",
    "[X-Fleet]",
    `MachineID=${machine}`,
    "[X-Devcluster]",
    "Volume=data:5:/srv/db",
  ].join("\n");

const node = (instanceId: string): NodeRecord => ({
  instanceId,
  role: "worker",
  zone: "z-a",
  group: "g-worker",
  privateIp: "127.0.0.1",
  state: "active",
  updatedAt: "",
});

function world() {
  const volumes = new FakeVolumes("dev");
  const nodes = [node("i-a"), node("i-b")];
  for (const n of nodes) {
    prepareLocalNode(root, n.instanceId, "worker");
    volumes.instances.set(n.instanceId, "running");
  }
  const store = fakeClusterStore(new FakeEtcd([{ name: "m", ip: "127.0.0.9" }]), [
    etcdClientUrl("127.0.0.9"),
  ]);
  let placement: StoredPlacement = { ...EMPTY_PLACEMENT };
  let rev = 0;
  let catalog = db("i-a");
  const deps: UnitsDeps = {
    log: quietLog,
    nodes: { listNodes: async () => nodes },
    placements: {
      load: async () => ({ state: placement, revision: String(rev) }),
      save: async (s, r) => (r === String(rev) ? ((placement = s), rev++, true) : false),
    },
    // The machines see what the (fake) EC2 attached to them.
    commands: createLocalCommands({
      root,
      attachments: async (ids) =>
        Object.fromEntries(
          ids.map((id) => [
            id,
            [...volumes.volumes.values()].filter((v) => v.attachedTo === id).map((v) => v.id),
          ]),
        ),
    }),
    catalog: () => ({ "db.service": catalog }),
    volumes: { store: volumes, lock: () => store.tryLock("volumes", "t", { ttlSeconds: 30, waitMs: 5_000 }) },
  };
  return { deps, volumes, setCatalog: (c: string) => (catalog = c) };
}

const active = (id: string, unit: string) => {
  const f = join(nodeDir(root, id), "run/systemd", `${unit}.state`);
  return existsSync(f) && readFileSync(f, "utf8").trim() === "active";
};
const mounted = (path: string) => spawnSync("mountpoint", ["-q", path]).status === 0;

describe("volume mounts on node directories", () => {
  const w = world();

  it("when the unit is first placed, its new volume gets a file system, is mounted, then the unit starts", async () => {
    const r = await syncUnits(w.deps);
    expect(r.failed).toEqual([]);
    const vol = [...w.volumes.volumes.values()][0]!;
    expect(vol.attachedTo).toBe("i-a");
    expect(mounted(join(nodeDir(root, "i-a"), "srv/db"))).toBe(true);
    expect(active("i-a", "db.service")).toBe(true);
    expect(r.results[0]!.mounted).toEqual([vol.id]);
    expect(readLedger(root).map((e) => `${e.op} ${e.node}`)).toEqual(["mkfs i-a", "mount i-a"]);
    writeFileSync(join(nodeDir(root, "i-a"), "srv/db/rows"), "1\n2\n3\n");
  });

  it("when pushed again, the mounted volume is left as it is (never formatted again)", async () => {
    const r = await syncUnits(w.deps, { force: true });
    expect(r.failed).toEqual([]);
    expect(readLedger(root).filter((e) => e.op === "mkfs")).toHaveLength(1);
    expect(readFileSync(join(nodeDir(root, "i-a"), "srv/db/rows"), "utf8")).toBe("1\n2\n3\n");
  });

  it("when the unit moves, the old node stops it and unmounts, and the new node mounts it with its files, unformatted", async () => {
    w.setCatalog(db("i-b"));
    const r = await syncUnits(w.deps);
    expect(r.failed).toEqual([]);
    expect(r.held).toEqual([]);
    expect(active("i-a", "db.service")).toBe(false);
    expect(mounted(join(nodeDir(root, "i-a"), "srv/db"))).toBe(false);
    expect(active("i-b", "db.service")).toBe(true);
    expect(readFileSync(join(nodeDir(root, "i-b"), "srv/db/rows"), "utf8")).toBe("1\n2\n3\n");
    const ledger = readLedger(root).map((e) => `${e.op} ${e.node}`);
    expect(ledger).toEqual(["mkfs i-a", "mount i-a", "umount i-a", "mount i-b"]);
    expect([...w.volumes.volumes.values()][0]!.attachedTo).toBe("i-b");
  });

  it("when a unit with a volume is started without it mounted, the node refuses to start it", () => {
    const dir = nodeDir(root, "i-a");
    writeFileSync(
      join(dir, "etc/systemd/system/db.service"),
      `[Unit]\nAssertPathIsMountPoint=/srv/db\n[Service]\nExecStart=/usr/bin/sleep infinity\n`,
    );
    const r = spawnSync(join(process.cwd(), "local/bin/systemctl"), ["start", "--", "db.service"], {
      env: { ...process.env, ROOT: dir },
      encoding: "utf8",
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/AssertPathIsMountPoint=\/srv\/db/);
    expect(active("i-a", "db.service")).toBe(false);
  });
});
