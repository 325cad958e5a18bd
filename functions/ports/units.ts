// What the units handler needs besides Commands: the stored placement (compare-and-swap) and the nodes.
import type { StoredPlacement } from "../domain/units/plan.ts";
import type { NodeRecord } from "../domain/model.ts";
import type { ImageRefs } from "../domain/images.ts";
import type { NodeAccess } from "../domain/etcdAccess.ts";

export interface PlacementStore {
  /** The stored placement (EMPTY_PLACEMENT when none) and the revision to compare against ("0": absent). */
  load(): Promise<{ state: StoredPlacement; revision: string }>;
  /** Store `state` if the stored revision is still `revision`; false when someone else wrote first. */
  save(state: StoredPlacement, revision: string): Promise<boolean>;
}

/** etcd users and roles (domain/etcdAccess.ts): each node's kept equal to what is placed on it. */
export interface NodeAccessStore {
  /** The node's role holds exactly these grants and its user has the role (idempotent). */
  apply(access: NodeAccess): Promise<{ granted: number; revoked: number }>;
  /** A node that left keeps no user or role. */
  remove(access: Pick<NodeAccess, "user" | "role">): Promise<void>;
}

/** The node registry (`/cluster/nodes/<id>`), e.g. `ClusterStore.listNodes`. */
export interface NodeSource {
  listNodes(): Promise<NodeRecord[]>;
}

/** The image references the last image push published (image name -> pinned reference). */
export interface PublishedImages {
  /** `{}` when nothing was published yet (every image placeholder then renders as missing). */
  load(): Promise<ImageRefs>;
}
