// A database client service's statements, run through Debian's psql against its own database of the
// Postgres building block (reached through its ambassador), with the password the database service
// keeps in SSM. SQL goes in on stdin and values as psql variables, so psql itself quotes them.
import { spawn } from "node:child_process";
import { GetParameterCommand, type SSMClient } from "@aws-sdk/client-ssm";

/** The database is away or its password not made yet: the request may be tried again (503). */
export class Unavailable extends Error {}

export interface DbSettings {
  host: string;
  port: number;
  /** The database and its role: the client's name, as the database service makes both. */
  name: string;
  passwordParam: string;
}

/** Longest one statement may take: the ambassador answers at once, so this only bounds a hung server. */
const STATEMENT_TIMEOUT_MS = 15_000;

export function psqlClient(ssm: SSMClient, db: DbSettings, appName: string) {
  let password: string | undefined;

  // The database service writes the password on its first start, which may come after ours: until
  // then every statement is Unavailable and the next one asks again.
  const readPassword = async () => {
    try {
      const r = await ssm.send(new GetParameterCommand({ Name: db.passwordParam, WithDecryption: true }));
      if (!r.Parameter?.Value) throw new Unavailable(`${db.passwordParam} is empty`);
      return r.Parameter.Value;
    } catch (e) {
      if ((e as Error).name === "ParameterNotFound")
        throw new Unavailable(`${db.passwordParam} not made yet (the database service makes it)`);
      throw e;
    }
  };

  return async (sql: string, vars: Record<string, string> = {}): Promise<string> => {
    password ??= await readPassword();
    const args = ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"];
    for (const [k, v] of Object.entries(vars)) args.push("-v", `${k}=${v}`);
    const child = spawn("psql", args, {
      env: {
        PATH: process.env.PATH,
        PGHOST: db.host,
        PGPORT: String(db.port),
        PGDATABASE: db.name,
        PGUSER: db.name,
        PGPASSWORD: password,
        PGCONNECT_TIMEOUT: "5",
        PGOPTIONS: `-c statement_timeout=${STATEMENT_TIMEOUT_MS}`,
        PGAPPNAME: appName,
      },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (err += c.toString("utf8")));
    child.stdin.end(sql);
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on("error", reject);
      child.on("close", resolve);
    });
    if (code === 0) return out.trim();
    // A refused password is read again next time (the database service sets the stored one at each start).
    if (/password authentication failed/.test(err)) password = undefined;
    // Exit 2: the connection failed or broke; 1 or 3: the statement failed.
    if (code === 2) throw new Unavailable(`database not reachable: ${err.trim().split("\n")[0] ?? ""}`);
    throw new Error(`psql exit ${code}: ${err.trim()}`);
  };
}
