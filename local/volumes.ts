// Local EBS volumes: a volume is a directory under the cluster's state directory, named by the id
// moto gave it; an attached volume shows up on its node as a device (a link in the node's
// /dev/disk/by-id, as Nitro names EBS volumes), and the node stand-ins (local/bin: blkid, mkfs.ext4,
// mount, umount) bind-mount it where the push script mounts a device.
import { DescribeVolumesCommand, EC2Client } from "@aws-sdk/client-ec2";
import { execFileSync } from "node:child_process";
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { basename, join } from "node:path";

/** A node's directory (as local/node.ts lays it out; not imported from there, which imports this). */
const nodeDir = (root: string, instanceId: string) => join(root, "nodes", instanceId);
export const localVolumesDir = (root: string) => join(root, "volumes");
export const localVolumeDir = (root: string, volumeId: string) => join(localVolumesDir(root), volumeId);
const BY_ID = "dev/disk/by-id";
const EBS_PREFIX = "nvme-Amazon_Elastic_Block_Store_";
const VOLUME_ID = /^vol-[0-9a-f]+$/;

/** The attached volumes of some instances: instance id -> volume ids. */
export type Attachments = (instanceIds: string[]) => Promise<Record<string, string[]>>;

/** What EC2 (moto) says is attached to each instance, read with the caller's own credentials. */
export function ec2Attachments(ec2 = new EC2Client({})): Attachments {
  return async (ids) => {
    const out: Record<string, string[]> = Object.fromEntries(ids.map((id) => [id, []]));
    if (!ids.length) return out;
    let token: string | undefined;
    do {
      const res = await ec2.send(
        new DescribeVolumesCommand({
          Filters: [{ Name: "attachment.instance-id", Values: ids }],
          NextToken: token,
        }),
      );
      for (const v of res.Volumes ?? [])
        for (const a of v.Attachments ?? [])
          if (v.VolumeId && a.InstanceId && a.State !== "detached" && out[a.InstanceId])
            out[a.InstanceId]!.push(v.VolumeId);
      token = res.NextToken;
    } while (token);
    return out;
  };
}

/**
 * Show a node the volumes attached to it, as the machine would: each one's device link appears
 * (its directory is made the first time a volume is seen) and a detached one's goes. The root
 * volume moto gives every instance is not a service volume and has no directory: it is left out.
 */
export function presentVolumes(root: string, instanceId: string, volumeIds: string[]): void {
  const dir = join(nodeDir(root, instanceId), BY_ID);
  mkdirSync(dir, { recursive: true });
  const want = new Set(volumeIds.filter((id) => VOLUME_ID.test(id)));
  for (const e of readdirSync(dir)) {
    if (!e.startsWith(EBS_PREFIX)) continue;
    const id = basename(readlinkSync(join(dir, e)));
    if (!want.has(id)) rmSync(join(dir, e), { force: true });
  }
  for (const id of want) {
    const vol = localVolumeDir(root, id);
    if (!existsSync(join(vol, ".devcluster-volume"))) {
      mkdirSync(vol, { recursive: true });
      writeFileSync(join(vol, ".devcluster-volume"), `${id}\n`);
    }
    const link = join(dir, `${EBS_PREFIX}${id.replace(/-/g, "")}`);
    if (!existsSync(link)) symlinkSync(vol, link);
  }
}

/** Mount points below `dir` (deepest first), from the kernel's table. */
function mountsUnder(dir: string): string[] {
  const table = readFileSync("/proc/self/mountinfo", "utf8");
  return table
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .map((p) => p.replace(/\\040/g, " "))
    .filter((p) => p.startsWith(dir + "/"))
    .sort((a, b) => b.length - a.length);
}

/**
 * A node is gone, and its mounts with it: every mount inside its directory is detached from the
 * tree (lazily: a killed container may still hold it) and its volumes are free, recorded in the ledger.
 */
export function dropNodeMounts(root: string, instanceId: string): void {
  const dir = nodeDir(root, instanceId);
  for (const p of mountsUnder(dir)) execFileSync("/usr/bin/umount", ["-l", p]);
  const vols = localVolumesDir(root);
  if (!existsSync(vols)) return;
  for (const id of readdirSync(vols).filter((e) => VOLUME_ID.test(e))) {
    const by = join(vols, id, "mounted-by");
    if (!existsSync(by)) continue;
    const [node, path] = readFileSync(by, "utf8").trim().split(" ");
    if (node !== instanceId) continue;
    writeFileSync(by, "");
    appendFileSync(
      join(vols, "ledger"),
      `${new Date().toISOString()} gone ${id} ${instanceId} ${path ?? "-"}\n`,
    );
  }
}

/** Every mount below `dir` detached (cleanup: nothing of a test or a cluster stays mounted). */
export function unmountAllUnder(dir: string): void {
  for (const p of mountsUnder(dir)) {
    try {
      execFileSync("/usr/bin/umount", ["-l", p]);
    } catch {
      // gone meanwhile
    }
  }
}

export interface LedgerEntry {
  time: string;
  op: "mkfs" | "mount" | "umount" | "gone" | "refused";
  volume: string;
  node: string;
  path: string;
}

/** The volumes' ledger: every mkfs, mount, unmount, node death and refused mount, in order. */
export function readLedger(root: string): LedgerEntry[] {
  const file = join(localVolumesDir(root), "ledger");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [time, op, volume, node, path] = l.split(" ") as [
        string,
        LedgerEntry["op"],
        string,
        string,
        string,
      ];
      return { time, op, volume, node, path };
    });
}
