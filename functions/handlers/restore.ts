// `restore` (by hand: sls invoke -f restore --data '{"snapshot":"latest","confirm":"<cluster>"}'):
// rebuild the etcd cluster from a verified snapshot (operations/restore.ts), then rediscover.
import { restore, type RestoreSummary } from "../operations/restore.ts";
import { invocationLogger } from "../runtime/log.ts";
import { restoreDeps, wiring, type Wiring } from "../runtime/wiring.ts";

export function restoreHandler(w: () => Wiring) {
  return async (event: unknown, context?: { awsRequestId?: string }): Promise<RestoreSummary> =>
    restore(restoreDeps(w(), invocationLogger("restore", context?.awsRequestId)), event);
}

/** The Lambda entry point: after a restore, discovery records are rewritten and units re-pushed. */
export const handler = restoreHandler(wiring);
