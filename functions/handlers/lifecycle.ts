// `lifecycle`: the Auto Scaling lifecycle actions of all three groups (EventBridge "EC2 Instance-launch
// Lifecycle Action" / "EC2 Instance-terminate Lifecycle Action"); operations/lifecycle.ts does the work.
// By hand, {"mode":"rotate-certificate","instanceId":...} re-issues a node's etcd certificate (it
// holds the cluster CA, which no other function may read).
import { handleLifecycle, type LifecycleReport } from "../operations/lifecycle.ts";
import {
  isRotateCertificate,
  rotateCertificate,
  type RotateCertificateReport,
} from "../operations/rotateCertificate.ts";
import { lambdaHandler } from "../runtime/handler.ts";
import { lifecycleDeps, wiring, type Wiring } from "../runtime/wiring.ts";

export const lifecycleHandler = (w: () => Wiring) =>
  lambdaHandler<LifecycleReport | RotateCertificateReport>("lifecycle", (event, log) =>
    isRotateCertificate(event)
      ? rotateCertificate(event, lifecycleDeps(w()), log)
      : handleLifecycle(event, lifecycleDeps(w()), log),
  );

/** The Lambda entry point. */
export const handler = lifecycleHandler(wiring);
