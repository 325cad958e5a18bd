// `restore` (by hand: sls invoke -f restore --data '{"snapshot":"latest","confirm":"<cluster>"}'):
// rebuild the etcd cluster from a verified snapshot (operations/restore.ts), then rediscover.
import { restore } from "../operations/restore.ts";
import { lambdaHandler } from "../runtime/handler.ts";
import { restoreDeps, wiring, type Wiring } from "../runtime/wiring.ts";

export const restoreHandler = (w: () => Wiring) =>
  lambdaHandler("restore", (event, log) => restore(restoreDeps(w(), log), event));

/** The Lambda entry point: after a restore, discovery records are rewritten and units re-pushed. */
export const handler = restoreHandler(wiring);
