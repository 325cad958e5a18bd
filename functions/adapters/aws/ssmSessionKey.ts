// The auth service's session-signing key in SSM Parameter Store (a SecureString): made once, rotated
// by putting a new key first and keeping the previous one (sessions it signed stay valid until they
// expire); never printed or logged.
import { randomBytes } from "node:crypto";
import { GetParameterCommand, PutParameterCommand, type SSMClient } from "@aws-sdk/client-ssm";
import { sessionKeyParameterName } from "../../domain/users.ts";
import { clusterKeyAlias } from "../../domain/clusterKey.ts";

export interface SessionKeyResult {
  name: string;
  /** created: there was none; rotated: a new key signs, the previous one still verifies; kept: unchanged. */
  action: "created" | "rotated" | "kept";
  keys: number;
}

export async function ensureSessionKey(
  ssm: SSMClient,
  cluster: string,
  opts: { rotate?: boolean } = {},
): Promise<SessionKeyResult> {
  const Name = sessionKeyParameterName(cluster);
  let current: string[] = [];
  try {
    const r = await ssm.send(new GetParameterCommand({ Name, WithDecryption: true }));
    current = (r.Parameter?.Value ?? "").split(/\s+/).filter(Boolean);
  } catch (e) {
    if ((e as { name?: string }).name !== "ParameterNotFound") throw e;
  }
  if (current.length && !opts.rotate) return { name: Name, action: "kept", keys: current.length };
  const keys = [randomBytes(32).toString("base64"), ...current.slice(0, 1)];
  await ssm.send(
    new PutParameterCommand({
      Name,
      Type: "SecureString",
      Value: keys.join("\n"),
      Overwrite: current.length > 0,
      Description: "devcluster auth: session-signing keys, newest first",
      // Under the cluster key: its policy lets the nodes (the auth service) decrypt cluster parameters only.
      KeyId: clusterKeyAlias(cluster),
    }),
  );
  return { name: Name, action: current.length ? "rotated" : "created", keys: keys.length };
}
