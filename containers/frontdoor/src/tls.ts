// The front door's certificate and key, read from SSM Parameter Store (SecureString, decrypted by
// SSM with the node role's KMS access); never from etcd, never logged.
import { GetParametersCommand, type SSMClient } from "@aws-sdk/client-ssm";
import { chmodSync, writeFileSync, renameSync } from "node:fs";

export interface TlsMaterial {
  cert: string;
  key: string;
}

export class TlsParameterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TlsParameterError";
  }
}

export async function readTlsFromSsm(
  ssm: SSMClient,
  certParam: string,
  keyParam: string,
): Promise<TlsMaterial> {
  const res = await ssm.send(
    new GetParametersCommand({ Names: [certParam, keyParam], WithDecryption: true }),
  );
  if (res.InvalidParameters?.length)
    throw new TlsParameterError(`SSM parameters not found: ${res.InvalidParameters.join(", ")}`);
  const by = new Map((res.Parameters ?? []).map((p) => [p.Name, p]));
  const cert = by.get(certParam);
  const key = by.get(keyParam);
  if (!cert?.Value || !key?.Value) throw new TlsParameterError("TLS parameters are empty");
  if (key.Type !== "SecureString") throw new TlsParameterError(`${keyParam} must be a SecureString`);
  if (!/-----BEGIN CERTIFICATE-----/.test(cert.Value))
    throw new TlsParameterError(`${certParam} holds no PEM certificate`);
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key.Value))
    throw new TlsParameterError(`${keyParam} holds no PEM private key`);
  return { cert: cert.Value, key: key.Value };
}

/** Write both files (0600), each replaced atomically. */
export function writeTlsFiles(t: TlsMaterial, files: { certFile: string; keyFile: string }) {
  for (const [file, text] of [
    [files.certFile, t.cert],
    [files.keyFile, t.key],
  ] as const) {
    writeFileSync(`${file}.new`, text.endsWith("\n") ? text : text + "\n", { mode: 0o600 });
    chmodSync(`${file}.new`, 0o600);
    renameSync(`${file}.new`, file);
  }
}
