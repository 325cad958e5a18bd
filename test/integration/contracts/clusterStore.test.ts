// The ClusterStore contract against the in-memory fake and the etcd adapter over a real etcd member.
import { afterAll } from "vitest";
import { etcdClusterStore } from "../../../functions/adapters/etcd/clusterStore.ts";
import { etcdClientUrl } from "../../../functions/domain/model.ts";
import type { ClusterStore } from "../../../functions/ports/cluster.ts";
import { clusterStoreContract } from "../../contracts/clusterStore.ts";
import { FakeEtcd } from "../../fakes/clusterStore.ts";
import { useRig } from "../../rig/index.ts";

const fake = new FakeEtcd([{ name: "i-0000000000000000a", ip: "127.0.0.11" }]);
clusterStoreContract("in-memory fake", () => ({
  store: () => fake.store([etcdClientUrl("127.0.0.11")]),
  unreachable: () => fake.store([etcdClientUrl("127.0.0.99")]),
  spareIp: "127.0.0.20",
}));

const rig = useRig({ etcdMembers: 1 });
const stores: ClusterStore[] = [];
const open = (s: ClusterStore) => (stores.push(s), s);
afterAll(() => stores.forEach((s) => s.close()));
clusterStoreContract("etcd adapter over real etcd", () => ({
  store: () => open(etcdClusterStore({ endpoints: rig.etcd!.endpoints })),
  unreachable: () => etcdClusterStore({ endpoints: [etcdClientUrl(rig.block.address(99))] }),
  spareIp: rig.block.address(20),
}));
