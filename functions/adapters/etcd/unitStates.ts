// UnitStatesDirectory over etcd: the records nodes publish at `/machines/<instance id>/units`.
import type { Etcd3 } from "etcd3";
import { UNIT_STATES_PREFIX } from "../../domain/etcdKeys.ts";
import { parsePublishedStates } from "../../domain/unitStates.ts";
import type { UnitStatesDirectory } from "../../ports/clusterView.ts";

const KEY = /^\/machines\/([^/]+)\/units$/;

export function etcdUnitStates(client: Etcd3): UnitStatesDirectory {
  return {
    async byMachine() {
      const all = await client.getAll().prefix(UNIT_STATES_PREFIX).strings();
      const out = new Map<string, ReturnType<typeof parsePublishedStates>>();
      for (const [key, value] of Object.entries(all)) {
        const m = KEY.exec(key);
        if (m) out.set(m[1]!, parsePublishedStates(value));
      }
      return out;
    },
  };
}
