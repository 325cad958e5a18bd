// `snapshot` (schedule): an etcd snapshot streamed to S3 with its manifest, then retention
// (operations/snapshot.ts).
import { runSnapshot } from "../operations/snapshot.ts";
import { lambdaHandler } from "../runtime/handler.ts";
import { snapshotDeps, wiring, type Wiring } from "../runtime/snapshotWiring.ts";

export const snapshotHandler = (w: () => Wiring) =>
  lambdaHandler("snapshot", (event, log) => runSnapshot(snapshotDeps(w(), log), event));

/** The Lambda entry point. */
export const handler = snapshotHandler(wiring);
