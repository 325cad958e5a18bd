// Service volumes in the local `status`: each volume's node (null when detached), its retirement,
// and no snapshot while none was taken; the table shows the same.
import { describe, expect, it } from "vitest";
import { volumeStatus } from "../../../functions/domain/volumes.ts";
import { formatStatus, type ClusterStatus } from "../../../local/cluster/status.ts";

describe("volumes in status", () => {
  const base = { service: "db", instance: "db@1", volume: "data", zone: "eu-west-1a", sizeGiB: 20 };

  it("when a volume is attached, it names the node; when detached, null", () => {
    expect(
      volumeStatus({ ...base, id: "vol-1", state: "in-use", attachedTo: "i-1", device: "/dev/xvdf" }),
    ).toEqual({
      id: "vol-1",
      service: "db",
      instance: "db@1",
      volume: "data",
      node: "i-1",
      zone: "eu-west-1a",
      sizeGiB: 20,
      state: "in-use",
      retired: null,
      lastSnapshot: null,
    });
    expect(volumeStatus({ ...base, id: "vol-2", state: "available" }).node).toBeNull();
  });

  it("when printed, the table lists each volume with its node, and a retired one says so", () => {
    const s: ClusterStatus = {
      cluster: "dev",
      nodes: [],
      etcd: { reachable: true, members: [] },
      services: [],
      dns: [],
      snapshots: [],
      volumes: [
        volumeStatus({ ...base, id: "vol-2", state: "available" }),
        volumeStatus({ ...base, id: "vol-3", state: "available", retired: "moved" }),
      ],
    };
    expect(formatStatus(s)).toMatch(
      /VOLUMES\nID\s+INSTANCE\s+VOLUME\s+NODE\s+ZONE\s+GIB\s+STATE\nvol-2\s+db@1\s+data\s+-\s+eu-west-1a\s+20\s+available\nvol-3\s+.*available \(retired\)$/,
    );
  });
});
