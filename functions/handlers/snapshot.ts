// `snapshot` (schedule): an etcd snapshot streamed to S3 with its manifest, then retention
// (operations/snapshot.ts).
import { runSnapshot, type SnapshotSummary } from "../operations/snapshot.ts";
import { invocationLogger } from "../runtime/log.ts";
import { snapshotDeps, wiring, type Wiring } from "../runtime/snapshotWiring.ts";

export function snapshotHandler(w: () => Wiring) {
  return async (event: unknown, context?: { awsRequestId?: string }): Promise<SnapshotSummary> =>
    runSnapshot(snapshotDeps(w(), invocationLogger("snapshot", context?.awsRequestId)), event);
}

/** The Lambda entry point. */
export const handler = snapshotHandler(wiring);
