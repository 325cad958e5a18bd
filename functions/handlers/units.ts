// `units` (by hand, or on a catalog change): re-place units from the catalog and push only the
// difference (operations/units.ts).
import { runUnits } from "../operations/units.ts";
import { lambdaHandler } from "../runtime/handler.ts";
import { unitsDeps, wiring, type Wiring } from "../runtime/wiring.ts";

export const unitsHandler = (w: () => Wiring) =>
  lambdaHandler("units", async (event, log) => runUnits(await unitsDeps(w(), log), event));

/** The Lambda entry point. */
export const handler = unitsHandler(wiring);
