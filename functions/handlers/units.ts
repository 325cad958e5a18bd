// `units` (by hand, or on a catalog change): re-place units from the catalog and push only the
// difference (operations/units.ts).
import { runUnits, type UnitsReport } from "../operations/units.ts";
import { invocationLogger } from "../runtime/log.ts";
import { unitsDeps, wiring, type Wiring } from "../runtime/wiring.ts";

export function unitsHandler(w: () => Wiring) {
  return async (event: unknown, context?: { awsRequestId?: string }): Promise<UnitsReport> => {
    const log = invocationLogger("units", context?.awsRequestId);
    return runUnits(await unitsDeps(w(), log), event);
  };
}

/** The Lambda entry point. */
export const handler = unitsHandler(wiring);
