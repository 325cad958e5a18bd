// A secret made once and kept in SSM Parameter Store: read it, or store a new one as a SecureString
// without Overwrite, so of two concurrent first starts the first one's value is kept and the other
// reads it back. Every generated password and key of the cluster goes through here.
import { GetParameterCommand, PutParameterCommand, type SSMClient } from "@aws-sdk/client-ssm";

export interface SecretOnce<T> {
  /** The parameter's name. */
  name: string;
  /** A new value, only called when the parameter does not exist. */
  make: () => string;
  /** Checks a stored value and derives what the caller needs; throws when it is not usable. */
  check: (stored: string) => T;
  /** The parameter's description (never the value). */
  description: string;
  /** The KMS key of the SecureString (the cluster's key); SSM's default key when absent. */
  kmsKeyId?: string;
}

export async function ssmSecretOnce<T>(
  ssm: SSMClient,
  s: SecretOnce<T>,
): Promise<{ value: T; created: boolean }> {
  const read = async () => {
    try {
      const v = (await ssm.send(new GetParameterCommand({ Name: s.name, WithDecryption: true }))).Parameter
        ?.Value;
      // An empty parameter is a damaged one, not a missing one: check() says so.
      return s.check(v ?? "");
    } catch (e) {
      if ((e as { name?: string }).name === "ParameterNotFound") return undefined;
      throw e;
    }
  };
  const found = await read();
  if (found !== undefined) return { value: found, created: false };
  const made = s.make();
  const value = s.check(made);
  try {
    await ssm.send(
      new PutParameterCommand({
        Name: s.name,
        Type: "SecureString",
        Value: made,
        Overwrite: false,
        Description: s.description,
        ...(s.kmsKeyId ? { KeyId: s.kmsKeyId } : {}),
      }),
    );
    return { value, created: true };
  } catch (e) {
    // Another start stored one first: that one is the secret.
    if ((e as { name?: string }).name !== "ParameterAlreadyExists") throw e;
    const winner = await read();
    if (winner === undefined) throw e;
    return { value: winner, created: false };
  }
}
