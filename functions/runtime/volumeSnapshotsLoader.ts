// The volume snapshots adapter (snapshots, and the swap of restore and move), which only the units
// function loads (functions/handlers/units.ts), so no other function's bundle or role holds those calls.
import { awsClients } from "../adapters/aws/clients.ts";
import { ec2VolumeSnapshots } from "../adapters/aws/ec2VolumeSnapshots.ts";
import type { VolumeSnapshots } from "../ports/volumes.ts";

/** Loaded on the first call (the EC2 client is heavy). */
export function lazyVolumeSnapshots(cluster: string): VolumeSnapshots {
  let snaps: VolumeSnapshots | undefined;
  const get = () => (snaps ??= ec2VolumeSnapshots(awsClients().ec2, cluster));
  return {
    list: async () => get().list(),
    create: async (v) => get().create(v),
    delete: async (id) => get().delete(id),
    createFrom: async (s, r, z, t) => get().createFrom(s, r, z, t),
    promote: async (id) => get().promote(id),
    retire: async (id, value) => get().retire(id, value),
  };
}
