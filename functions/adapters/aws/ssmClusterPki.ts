// The cluster's etcd CA and the control plane's client certificate in SSM Parameter Store
// (SecureString, one parameter each holding cert and key together, so a reader never sees a
// certificate without its key). Created once: PutParameter without Overwrite, and the loser of a
// race reads the winner's. Read once per container. The control plane's parameter also carries the CA's
// certificate (not its key), so the functions that only reach etcd read that one parameter.
import { GetParameterCommand, PutParameterCommand, type SSMClient } from "@aws-sdk/client-ssm";
import { z } from "zod";
import { InvariantError } from "../../domain/errors.ts";
import {
  CONTROL_PLANE_USER,
  createClientCertificate,
  createClusterCa,
  issuedBy,
  type ClientTlsPem,
  type KeyPairPem,
} from "../../domain/pki.ts";
import type { ClusterPki } from "../../ports/pki.ts";

export const pkiParameterNames = (cluster: string) => ({
  ca: `/devcluster/${cluster}/etcd/ca`,
  client: `/devcluster/${cluster}/etcd/client-${CONTROL_PLANE_USER}`,
});

const KeyPairSchema = z.object({ certPem: z.string().min(1), keyPem: z.string().min(1) }).strict();
const ClientTlsSchema = KeyPairSchema.extend({ caPem: z.string().min(1) }).strict();

async function readParameter<T>(ssm: SSMClient, Name: string, schema: z.ZodType<T>): Promise<T | undefined> {
  try {
    const out = await ssm.send(new GetParameterCommand({ Name, WithDecryption: true }));
    const parsed = schema.safeParse(JSON.parse(out.Parameter?.Value ?? "null"));
    if (!parsed.success) throw new InvariantError(`SSM parameter ${Name} is not a certificate and key`);
    return parsed.data;
  } catch (e) {
    if ((e as { name?: string }).name === "ParameterNotFound") return undefined;
    throw e;
  }
}

/**
 * The control plane's etcd client certificate, read only (what every function but the launch's
 * holds): the launch creates it with the CA, so a cluster whose members serve TLS has it.
 */
export function ssmControlPlaneTls(ssm: SSMClient, cluster: string): () => Promise<ClientTlsPem> {
  const Name = pkiParameterNames(cluster).client;
  return async () => {
    const found = await readParameter(ssm, Name, ClientTlsSchema);
    if (!found)
      throw new InvariantError(`${Name} does not exist: a launch creates it before any member serves TLS`);
    return found;
  };
}

export function ssmClusterPki(
  ssm: SSMClient,
  cluster: string,
  opts: { now?: () => Date; kmsKeyId?: string | undefined } = {},
): ClusterPki {
  const now = opts.now ?? (() => new Date());
  const names = pkiParameterNames(cluster);

  /** Reads `Name`, or creates it with `make()`; a concurrent creator's value wins over ours. */
  const readOrCreate = async <T extends KeyPairPem>(
    Name: string,
    schema: z.ZodType<T>,
    make: () => Promise<T>,
    description: string,
  ): Promise<T> => {
    const read = () => readParameter(ssm, Name, schema);
    const found = await read();
    if (found) return found;
    const mine = await make();
    try {
      await ssm.send(
        new PutParameterCommand({
          Name,
          Type: "SecureString",
          Overwrite: false,
          Value: JSON.stringify(mine),
          Description: description,
          ...(opts.kmsKeyId ? { KeyId: opts.kmsKeyId } : {}),
        }),
      );
      return mine;
    } catch (e) {
      if ((e as { name?: string }).name !== "ParameterAlreadyExists") throw e;
      const winner = await read();
      if (!winner) throw new InvariantError(`SSM parameter ${Name} exists but cannot be read`, { cause: e });
      return winner;
    }
  };

  let ca: Promise<KeyPairPem> | undefined;
  let client: Promise<ClientTlsPem> | undefined;
  const getCa = () =>
    (ca ??= readOrCreate(
      names.ca,
      KeyPairSchema,
      () => createClusterCa(cluster, now()),
      "devcluster: etcd cluster CA (certificate and key)",
    ).catch((e: unknown) => {
      ca = undefined; // a failed read is retried by the next call, not cached
      throw e;
    }));
  return {
    ca: getCa,
    controlPlaneClient: () =>
      (client ??= (async () => {
        const authority = await getCa();
        const c = await readOrCreate(
          names.client,
          ClientTlsSchema,
          async () => ({
            ...(await createClientCertificate(authority, CONTROL_PLANE_USER, now())),
            caPem: authority.certPem,
          }),
          "devcluster: the control plane's etcd client certificate and key",
        );
        if (c.caPem !== authority.certPem || !(await issuedBy(c.certPem, authority.certPem)))
          throw new InvariantError(
            `${names.client} was not issued by the cluster CA (rotate it: docs/OPERATIONS.md)`,
          );
        return c;
      })().catch((e: unknown) => {
        client = undefined;
        throw e;
      })),
  };
}
