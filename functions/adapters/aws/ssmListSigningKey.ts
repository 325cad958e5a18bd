// The SSH-key service's list-signing key in SSM Parameter Store: an ed25519 private key (PKCS#8
// PEM) in a SecureString, created once (PutParameter without Overwrite; the loser of a race reads
// the winner's), so every instance signs with the one key whose public half hosts install once.
import { createPrivateKey, createPublicKey, generateKeyPairSync } from "node:crypto";
import type { SSMClient } from "@aws-sdk/client-ssm";
import { ssmSecretOnce } from "./ssmSecretOnce.ts";
import { InvariantError } from "../../domain/errors.ts";

export const listSigningKeyParameterName = (cluster: string) => `/devcluster/${cluster}/sshkeys/signing-key`;

export interface ListSigningKey {
  privateKeyPem: string;
  /** SPKI PEM: what hosts install as the service's public key. */
  publicKeyPem: string;
  action: "created" | "kept";
}

function checked(Name: string, pem: string): { privateKeyPem: string; publicKeyPem: string } {
  let key;
  try {
    key = createPrivateKey(pem);
  } catch (e) {
    throw new InvariantError(`SSM parameter ${Name} is not a private key`, { cause: e });
  }
  if (key.asymmetricKeyType !== "ed25519")
    throw new InvariantError(`SSM parameter ${Name} holds a ${key.asymmetricKeyType} key, not ed25519`);
  return {
    privateKeyPem: pem,
    publicKeyPem: createPublicKey(key).export({ type: "spki", format: "pem" }).toString(),
  };
}

export async function ensureListSigningKey(
  ssm: SSMClient,
  cluster: string,
  opts: { kmsKeyId?: string } = {},
): Promise<ListSigningKey> {
  const name = listSigningKeyParameterName(cluster);
  const key = await ssmSecretOnce(ssm, {
    name,
    make: () => generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    check: (pem) => checked(name, pem),
    description: "devcluster sshkeys: ed25519 key signing the key lists hosts trust",
    ...(opts.kmsKeyId ? { kmsKeyId: opts.kmsKeyId } : {}),
  });
  return { ...key.value, action: key.created ? "created" : "kept" };
}
