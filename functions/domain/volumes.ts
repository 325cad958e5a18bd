// Service volumes (pure): the `Volume=` declarations of the catalog, the identity and tags of each
// EBS volume, and which volumes a placement needs created and where units with volumes may go.
import { createHash } from "node:crypto";
import { CLUSTER_TAG } from "./model.ts";

/** One volume a unit declares: `Volume=<name>:<size GiB>:<mount path>` in [X-Devcluster]. */
export interface VolumeSpec {
  name: string;
  sizeGiB: number;
  /** Where the node mounts it (specifiers expanded per instance); the unit bind-mounts it from there. */
  path: string;
}

/** gp3's bounds (1 GiB to 16 TiB). */
export const VOLUME_MIN_GIB = 1;
export const VOLUME_MAX_GIB = 16_384;
/**
 * Where a volume may be mounted on a node: directories no node program or the OS itself owns, so a
 * mount never hides the node's own files (`/`, `/etc`, `/var/lib/etcd`, `/opt/bin` stay out of reach).
 */
export const VOLUME_ROOTS = ["/srv/", "/mnt/"] as const;
const VOLUME_NAME = /^[a-z][a-z0-9-]{0,31}$/;
const PATH_CHARS = /^[A-Za-z0-9._@%/-]+$/;

/**
 * Parse one `Volume=` value (specifiers still as written). Returns the spec or the reason it is
 * refused; the mount path is checked again after expansion by `checkMountPath`.
 */
export function parseVolume(value: string): VolumeSpec | string {
  const parts = value.split(":");
  if (parts.length !== 3)
    return `Volume= takes <name>:<size GiB>:<mount path> (e.g. data:20:/srv/db-%i), not '${value}'`;
  const [name, size, path] = parts as [string, string, string];
  if (!VOLUME_NAME.test(name))
    return `volume name '${name}' must be lowercase letters, digits and '-', starting with a letter (at most 32)`;
  if (!/^\d+$/.test(size) || Number(size) < VOLUME_MIN_GIB || Number(size) > VOLUME_MAX_GIB)
    return `volume ${name}: size must be a whole number of GiB from ${VOLUME_MIN_GIB} to ${VOLUME_MAX_GIB}, not '${size}'`;
  const bad = checkMountPath(path);
  if (bad) return `volume ${name}: ${bad}`;
  return { name, sizeGiB: Number(size), path };
}

/** Why `path` is not an acceptable mount path, or undefined when it is. */
export function checkMountPath(path: string): string | undefined {
  const roots = VOLUME_ROOTS.join(" or ");
  if (!PATH_CHARS.test(path))
    return `mount path '${path}' may hold only letters, digits and . _ @ % - / (it is written into node scripts)`;
  if (!VOLUME_ROOTS.some((r) => path.startsWith(r) && path.length > r.length))
    return `mount path '${path}' must be a directory under ${roots}`;
  const segments = path.split("/").slice(1);
  if (segments.some((s) => s === "" || s === "." || s === ".."))
    return `mount path '${path}' must be normalised (no empty, '.' or '..' segment, no trailing '/')`;
  return undefined;
}

/** Which volume of which service instance: what a volume's tags say and what is created once. */
export interface VolumeKey {
  service: string;
  /** The unit instance without its type (`postgres@1`, or `gerrit` for a plain unit). */
  instance: string;
  volume: string;
}

export const VOLUME_TAGS = {
  cluster: CLUSTER_TAG,
  service: "devcluster:service",
  instance: "devcluster:instance",
  volume: "devcluster:volume",
  retired: "devcluster:retired",
  replaces: "devcluster:replaces",
  fromSnapshot: "devcluster:from-snapshot",
} as const;

export const instanceOfUnit = (unit: string) => unit.slice(0, unit.lastIndexOf("."));
export const volumeKeyString = (k: VolumeKey) => `${k.service}/${k.instance}/${k.volume}`;

/**
 * The idempotency token of a volume's creation: the same for every attempt to create the same
 * volume in the same cluster, so a retried or concurrent CreateVolume returns the first volume
 * (EC2 keeps a token for at least 24 hours); 64 characters, EC2's limit.
 */
export function volumeClientToken(cluster: string, k: VolumeKey): string {
  return createHash("sha256")
    .update(`${cluster}\0${volumeKeyString(k)}`)
    .digest("hex");
}

/** A volume as EC2 reports it, read through its tags. */
export interface VolumeRecord extends VolumeKey {
  id: string;
  zone: string;
  sizeGiB: number;
  /** EC2's state: creating, available, in-use, deleting, deleted, error. */
  state: string;
  /** The instance it is attached to (any attachment state but detached), if any. */
  attachedTo?: string;
  /** The device name of that attachment (`/dev/xvdf`). */
  device?: string;
  /** EC2's state of that attachment: attaching, attached, detaching. */
  attachState?: string;
  /** `devcluster:retired` set: kept for safety (moved, restored over), never used again. */
  retired?: string;
  /**
   * `devcluster:replaces` set: made from a snapshot to take the place of that volume, and not in use
   * until the swap completes (the tag is removed, then the old volume retired).
   */
  replaces?: string;
  /** The snapshot it was made from (`devcluster:from-snapshot`), if any. */
  fromSnapshot?: string;
  createdAt?: string;
}

export interface VolumeNeed extends VolumeKey {
  unit: string;
  sizeGiB: number;
  path: string;
}

/** Every volume the catalog's units declare. */
export function volumeNeeds(units: { name: string; service: string; volumes: VolumeSpec[] }[]): VolumeNeed[] {
  return units.flatMap((u) =>
    u.volumes.map((v) => ({
      unit: u.name,
      service: u.service,
      instance: instanceOfUnit(u.name),
      volume: v.name,
      sizeGiB: v.sizeGiB,
      path: v.path,
    })),
  );
}

/**
 * The volume in use for a key: the one neither retired nor still being made to replace another
 * (the oldest, should two ever exist, so the choice is stable: a swap clears its new volume's
 * `replaces` before it retires the old one, so at every moment exactly one is current); undefined
 * when none was created yet.
 */
export function currentVolume(volumes: VolumeRecord[], k: VolumeKey): VolumeRecord | undefined {
  return volumes
    .filter(
      (v) =>
        !v.retired &&
        !v.replaces &&
        v.state !== "deleting" &&
        v.state !== "deleted" &&
        v.service === k.service &&
        v.instance === k.instance &&
        v.volume === k.volume,
    )
    .sort((a, b) => (a.createdAt ?? "").localeCompare(b.createdAt ?? "") || a.id.localeCompare(b.id))[0];
}

export interface VolumeZones {
  /** unit -> the zone its existing volumes hold it to. */
  zones: Record<string, string>;
  /** Units whose volumes sit in different zones: they cannot be placed until moved. */
  split: { unit: string; zones: string[] }[];
}

/** Where units with existing volumes may run: the zone of their volumes. */
export function volumeZones(needs: VolumeNeed[], volumes: VolumeRecord[]): VolumeZones {
  const byUnit = new Map<string, Set<string>>();
  for (const n of needs) {
    const v = currentVolume(volumes, n);
    if (!v) continue;
    byUnit.set(n.unit, (byUnit.get(n.unit) ?? new Set()).add(v.zone));
  }
  const zones: Record<string, string> = {};
  const split: VolumeZones["split"] = [];
  for (const [unit, zs] of [...byUnit].sort(([a], [b]) => a.localeCompare(b))) {
    if (zs.size === 1) zones[unit] = [...zs][0]!;
    else split.push({ unit, zones: [...zs].sort() });
  }
  return { zones, split };
}

export interface VolumeCreate extends VolumeNeed {
  zone: string;
}

/** The volumes to create for a placement: each placed unit's missing volume, in its node's zone. */
export function planVolumeCreates(
  needs: VolumeNeed[],
  volumes: VolumeRecord[],
  placement: Record<string, string[]>,
  zoneOfNode: Map<string, string>,
): VolumeCreate[] {
  const out: VolumeCreate[] = [];
  for (const n of needs) {
    const node = placement[n.unit]?.[0];
    if (!node || currentVolume(volumes, n)) continue;
    const zone = zoneOfNode.get(node);
    if (zone) out.push({ ...n, zone });
  }
  return out;
}

/** A volume as the local `status --json` shows it. */
export interface VolumeStatus {
  id: string;
  service: string;
  instance: string;
  volume: string;
  /** The node it is attached to, or null. */
  node: string | null;
  zone: string;
  sizeGiB: number;
  /** EC2's state. */
  state: string;
  /** Why it is kept but no longer used (moved, restored over), or null. */
  retired: string | null;
  /** Its service volume's newest completed snapshot (of this volume or the ones it replaced), or null. */
  lastSnapshot: string | null;
}

export function volumeStatus(v: VolumeRecord, lastSnapshot: string | null = null): VolumeStatus {
  return {
    id: v.id,
    service: v.service,
    instance: v.instance,
    volume: v.volume,
    node: v.attachedTo ?? null,
    zone: v.zone,
    sizeGiB: v.sizeGiB,
    state: v.state,
    retired: v.retired ?? null,
    lastSnapshot,
  };
}
