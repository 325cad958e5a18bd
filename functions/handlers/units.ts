// `units` (by hand, or on a catalog change): re-place units from the catalog and push only the
// difference (operations/units.ts).
import { runUnits, runVolumes } from "../operations/units.ts";
import { lambdaHandler } from "../runtime/handler.ts";
import { lazyVolumeSnapshots } from "../runtime/volumeSnapshotsLoader.ts";
import { unitsDeps, wiring, type Wiring } from "../runtime/wiring.ts";

export const unitsHandler = (w: () => Wiring) =>
  lambdaHandler("units", async (event, log) =>
    event && typeof event === "object" && "volume" in event
      ? runVolumes(
          {
            ...(await unitsDeps(w(), log)),
            volumeSnapshots: {
              store: lazyVolumeSnapshots(w().cfg.CLUSTER_NAME),
              cluster: w().cfg.CLUSTER_NAME,
            },
          },
          event,
        )
      : runUnits(await unitsDeps(w(), log), event),
  );

/** The Lambda entry point. */
export const handler = unitsHandler(wiring);
