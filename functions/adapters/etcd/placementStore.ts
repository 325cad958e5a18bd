// PlacementStore in etcd: one JSON document at /cluster/placement, written with a compare-and-swap
// on its mod revision so two units runs never overwrite each other's placement blindly.
import { PLACEMENT_KEY } from "../../domain/etcdKeys.ts";
import type { Etcd3 } from "etcd3";
import { z } from "zod";
import { EMPTY_PLACEMENT, type StoredPlacement } from "../../domain/units/plan.ts";
import { InvalidInputError, formatIssues } from "../../domain/errors.ts";
import type { PlacementStore } from "../../ports/units.ts";

const Stored = z.object({
  placement: z.record(z.string(), z.array(z.string())),
  files: z.record(z.string(), z.string()).default({}),
  pending: z.array(z.string()).default([]),
  updatedAt: z.string().default(""),
});

export function etcdPlacementStore(client: Etcd3, key: string = PLACEMENT_KEY): PlacementStore {
  return {
    async load() {
      const res = await client.get(key).exec();
      const kv = res.kvs[0];
      if (!kv) return { state: { ...EMPTY_PLACEMENT }, revision: "0" };
      const parsed = Stored.safeParse(JSON.parse(kv.value.toString()));
      if (!parsed.success)
        throw new InvalidInputError(
          `stored placement at ${key} is malformed`,
          formatIssues(parsed.error.issues),
        );
      return { state: parsed.data as StoredPlacement, revision: String(kv.mod_revision) };
    },
    async save(state, revision) {
      const value = JSON.stringify(state);
      const tx = revision === "0" ? client.if(key, "Create", "==", 0) : client.if(key, "Mod", "==", revision);
      const res = await tx.then(client.put(key).value(value)).commit();
      return res.succeeded;
    },
  };
}
