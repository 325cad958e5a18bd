// `restore` (by hand): from a snapshot, sls invoke -f restore --data '{"snapshot":"latest","confirm":"<cluster>"}'
// (operations/restore.ts), or from the most up-to-date surviving member when members answer but no
// quorum does, --data '{"mode":"survivor","confirm":"<cluster>"}' (operations/survivor.ts).
import { restore, type RestoreSummary } from "../operations/restore.ts";
import { recoverFromSurvivor, type SurvivorSummary } from "../operations/survivor.ts";
import { lambdaHandler } from "../runtime/handler.ts";
import { restoreDeps, survivorDeps, wiring, type Wiring } from "../runtime/wiring.ts";

const isSurvivor = (event: unknown): boolean =>
  typeof event === "object" && event !== null && (event as { mode?: unknown }).mode === "survivor";

export const restoreHandler = (w: () => Wiring) =>
  lambdaHandler<RestoreSummary | SurvivorSummary>("restore", (event, log) =>
    isSurvivor(event)
      ? recoverFromSurvivor(survivorDeps(w(), log), event)
      : restore(restoreDeps(w(), log), event),
  );

/** The Lambda entry point: after a restore, discovery records are rewritten and units re-pushed. */
export const handler = restoreHandler(wiring);
