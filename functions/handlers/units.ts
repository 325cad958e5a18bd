// `units` (by hand, or on a catalog change): re-place units from the catalog and push only the
// difference (operations/units.ts).
import { runUnits, runVolumes } from "../operations/units.ts";
import { lambdaHandler } from "../runtime/handler.ts";
import { unitsDeps, wiring, type Wiring } from "../runtime/wiring.ts";

export const unitsHandler = (w: () => Wiring) =>
  lambdaHandler("units", async (event, log) =>
    event && typeof event === "object" && "volume" in event
      ? runVolumes(await unitsDeps(w(), log), event)
      : runUnits(await unitsDeps(w(), log), event),
  );

/** The Lambda entry point. */
export const handler = unitsHandler(wiring);
