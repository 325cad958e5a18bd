// In-memory EBS volumes (the Volumes port), for operation tests; test/contracts/volumes.ts holds it
// to the EC2 adapter over moto.
import { volumeClientToken, type VolumeCreate, type VolumeRecord } from "../../functions/domain/volumes.ts";
import type { VolumeAccess, VolumeSnapshots, Volumes } from "../../functions/ports/volumes.ts";
import type { VolumeSnapshotRecord } from "../../functions/domain/volumeSnapshots.ts";

export class FakeVolumes implements Volumes {
  readonly volumes = new Map<string, VolumeRecord>();
  /** Every create call, retried ones included. */
  creates = 0;
  private readonly tokens = new Map<string, string>();
  private n = 0;

  constructor(
    private readonly cluster = "fake",
    /** false: ignore the creation token, as moto does (a second create makes a second volume). */
    private readonly clientToken = true,
  ) {}

  async list(): Promise<VolumeRecord[]> {
    return [...this.volumes.values()].map((v) => ({ ...v }));
  }

  /** Instances and their EC2 state (what `instanceStates` answers). */
  readonly instances = new Map<string, string>();

  async attach(volumeId: string, instanceId: string, device: string): Promise<void> {
    const v = this.volumes.get(volumeId);
    if (!v) throw Object.assign(new Error(`no volume ${volumeId}`), { name: "InvalidVolume.NotFound" });
    // EC2 refuses a second attachment (moto does not; the control plane never asks for one).
    if (v.attachedTo) throw Object.assign(new Error(`${volumeId} is in use`), { name: "VolumeInUse" });
    Object.assign(v, { attachedTo: instanceId, device, attachState: "attached", state: "in-use" });
  }

  async detach(volumeId: string, instanceId: string): Promise<void> {
    const v = this.volumes.get(volumeId);
    if (!v || v.attachedTo !== instanceId)
      throw Object.assign(new Error(`${volumeId} is not attached to ${instanceId}`), {
        name: "IncorrectState",
      });
    delete v.attachedTo;
    delete v.device;
    delete v.attachState;
    v.state = "available";
  }

  async instanceStates(ids: string[]): Promise<Record<string, string>> {
    return Object.fromEntries(
      ids.flatMap((id) => (this.instances.has(id) ? [[id, this.instances.get(id)!]] : [])),
    );
  }

  async create(req: VolumeCreate): Promise<VolumeRecord> {
    this.creates++;
    // The answer comes back later, as over the network, so concurrent callers interleave.
    await new Promise((r) => setTimeout(r, 5));
    // EC2's ClientToken: the same token returns the first volume.
    const { service, instance, volume, zone, sizeGiB } = req;
    return this.createRaw(volumeClientToken(this.cluster, req), { service, instance, volume, zone, sizeGiB });
  }

  /** A volume made under an idempotency token (a service volume's, or a swap's from a snapshot). */
  createRaw(token: string, fields: Omit<VolumeRecord, "id" | "state" | "createdAt">): VolumeRecord {
    const known = this.clientToken ? this.tokens.get(token) : undefined;
    if (known) return { ...this.volumes.get(known)! };
    const id = `vol-${(++this.n).toString(16).padStart(17, "0")}`;
    const v: VolumeRecord = {
      id,
      ...fields,
      state: "available",
      createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, this.n)).toISOString(),
    };
    this.volumes.set(id, v);
    this.tokens.set(token, id);
    return { ...v };
  }
}

/**
 * In-memory volume snapshots over a FakeVolumes (the VolumeSnapshots port); test/contracts/volumes.ts
 * holds it to the EC2 adapter over moto. A snapshot starts `pending` unless `completeAt` says
 * otherwise (EBS takes a while; moto completes at once): `complete()` finishes them.
 */
export class FakeVolumeSnapshots implements VolumeSnapshots {
  readonly snapshots = new Map<string, VolumeSnapshotRecord>();
  private n = 0;
  /** Calls that failed on purpose: volume ids whose snapshot is refused. */
  readonly refuse = new Set<string>();

  constructor(
    private readonly volumes: FakeVolumes,
    private readonly instantly = true,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  async list(): Promise<VolumeSnapshotRecord[]> {
    return [...this.snapshots.values()].map((s) => ({ ...s }));
  }

  async create(v: VolumeRecord): Promise<VolumeSnapshotRecord> {
    if (this.refuse.has(v.id)) throw new Error(`snapshot of ${v.id} refused`);
    const id = `snap-${(++this.n).toString(16).padStart(17, "0")}`;
    const s: VolumeSnapshotRecord = {
      id,
      service: v.service,
      instance: v.instance,
      volume: v.volume,
      volumeId: v.id,
      state: this.instantly ? "completed" : "pending",
      startedAt: this.clock().toISOString(),
      sizeGiB: v.sizeGiB,
    };
    this.snapshots.set(id, s);
    return { ...s };
  }

  complete(): void {
    for (const s of this.snapshots.values()) if (s.state === "pending") s.state = "completed";
  }

  async delete(id: string): Promise<void> {
    if (!this.snapshots.delete(id))
      throw Object.assign(new Error(`no snapshot ${id}`), { name: "InvalidSnapshot.NotFound" });
  }

  async createFrom(
    snapshot: VolumeSnapshotRecord,
    replaces: VolumeRecord,
    zone: string,
    clientToken: string,
  ): Promise<VolumeRecord> {
    return this.volumes.createRaw(clientToken, {
      service: replaces.service,
      instance: replaces.instance,
      volume: replaces.volume,
      zone,
      sizeGiB: Math.max(replaces.sizeGiB, snapshot.sizeGiB),
      replaces: replaces.id,
      fromSnapshot: snapshot.id,
    });
  }

  async promote(volumeId: string): Promise<void> {
    const v = this.volumes.volumes.get(volumeId);
    if (!v) throw Object.assign(new Error(`no volume ${volumeId}`), { name: "InvalidVolume.NotFound" });
    delete v.replaces;
  }

  async retire(volumeId: string, value: string): Promise<void> {
    const v = this.volumes.volumes.get(volumeId);
    if (!v) throw Object.assign(new Error(`no volume ${volumeId}`), { name: "InvalidVolume.NotFound" });
    v.retired = value;
  }
}

/**
 * The fake as a units sync's volume access, for tests that push the real catalog (which declares
 * volumes) to local node directories: every listed instance is running, the lock is one in memory,
 * and `attachments` is what the local runner shows each node as its attached devices.
 */
export function fakeVolumeAccess(instanceIds: string[], cluster = "fake") {
  const volumes = new FakeVolumes(cluster);
  for (const id of instanceIds) volumes.instances.set(id, "running");
  let held = false;
  const access: VolumeAccess = {
    store: volumes,
    lock: async () => {
      if (held) return undefined;
      held = true;
      return { release: async () => void (held = false) };
    },
  };
  const attachments = async (ids: string[]) =>
    Object.fromEntries(
      ids.map((id) => [
        id,
        [...volumes.volumes.values()].filter((v) => v.attachedTo === id).map((v) => v.id),
      ]),
    );
  return { volumes, access, attachments };
}
