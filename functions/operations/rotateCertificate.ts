// Re-issues one node's etcd certificate with a new key, by hand (`lifecycle` with
// {"mode":"rotate-certificate","instanceId":...}): only `lifecycle` holds the CA. The node must be
// an InService, running instance of one of this cluster's groups, tagged with the cluster.
import { z } from "zod";
import { EventRefusedError, InvariantError } from "../domain/errors.ts";
import { parseInput } from "../domain/input.ts";
import { CLUSTER_TAG } from "../domain/model.ts";
import type { Logger } from "../ports/log.ts";
import type { LifecycleDeps } from "./deps.ts";
import { issueNodeCertificate } from "./nodeCertificate.ts";
import { observe } from "./observe.ts";

export const RotateCertificateSchema = z
  .object({
    mode: z.literal("rotate-certificate"),
    instanceId: z.string().regex(/^i-[0-9a-f]{8,17}$/, "an instance id"),
  })
  .strict();

export const isRotateCertificate = (event: unknown): boolean =>
  typeof event === "object" && event !== null && (event as { mode?: unknown }).mode === "rotate-certificate";

export interface RotateCertificateReport {
  instanceId: string;
  result: "rotated";
}

export async function rotateCertificate(
  event: unknown,
  deps: LifecycleDeps,
  log: Logger,
): Promise<RotateCertificateReport> {
  const { instanceId } = parseInput(RotateCertificateSchema, event, "invalid rotate-certificate request");
  if (!deps.pki) throw new InvariantError("rotate-certificate: this composition has no cluster PKI");
  const obs = await observe(deps, Object.values(deps.groupNames), [instanceId], "main");
  const member = obs.groups.flatMap((g) => g.instances).find((i) => i.instanceId === instanceId);
  const inst = obs.instances.get(instanceId);
  if (!member || !inst) throw new EventRefusedError(`${instanceId} is not in this cluster's groups`);
  if (member.lifecycleState !== "InService" || inst.state !== "running")
    throw new EventRefusedError(`${instanceId} is ${member.lifecycleState}/${inst.state}, not in service`);
  if (inst.clusterTag !== deps.clusterName)
    throw new EventRefusedError(`${instanceId} does not carry ${CLUSTER_TAG}=${deps.clusterName}`);
  await issueNodeCertificate(
    {
      commands: deps.commands,
      pki: deps.pki,
      now: deps.now,
      commandTimeoutSeconds: deps.timing.commandTimeoutSeconds,
    },
    { instanceId, privateIp: inst.privateIp, domain: deps.domain },
    log,
    { rotate: true },
  );
  return { instanceId, result: "rotated" };
}
