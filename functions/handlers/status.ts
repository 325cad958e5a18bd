// `status` (by hand: the operator's command line and dashboard invoke it): the cluster as the
// operator sees it (machines, etcd members and health, units, services, volumes, snapshots).
// Read-only, and in the VPC: the operator's machine never reaches etcd itself.
import type { ClusterView } from "../domain/clusterView.ts";
import { readClusterView } from "../operations/status.ts";
import { lambdaHandler } from "../runtime/handler.ts";
import { statusDeps, wiring, type Wiring } from "../runtime/statusWiring.ts";

export const statusHandler = (w: () => Wiring) =>
  lambdaHandler<ClusterView>("status", (_event, log) => readClusterView(statusDeps(w()), log));

/** The Lambda entry point. */
export const handler = statusHandler(wiring);
