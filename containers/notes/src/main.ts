// notes: the catalog's sample database client. It keeps short notes in its own database of the
// cluster's Postgres, reached through its ambassador (127.0.0.1:5432 follows the elected primary),
// with the password the database service generated into SSM. POST /notes stores one and answers
// only once Postgres committed it; GET /notes lists every stored note.
import { spawn } from "node:child_process";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { z } from "zod";
import { int, loadEnv } from "../../shared/config.ts";
import { programLogger } from "../../shared/log.ts";
import { runProgram } from "../../shared/run.ts";

const log = programLogger("notes");

const Env = z.object({
  LISTEN_ADDRESS: z.ipv4({ error: "required: the node's private address" }),
  PORT: int(1, 65535, 8086),
  DB_HOST: z.string().default("127.0.0.1"),
  DB_PORT: int(1, 65535, 5432),
  /** Its database and role: the service name, as the database service makes them. */
  DB_NAME: z
    .string()
    .regex(/^[a-z][a-z0-9_]{0,62}$/, "a database name")
    .default("notes"),
  DB_PASSWORD_PARAM: z.string({ error: "required: the SSM parameter (SecureString) of the password" }),
  AWS_ENDPOINT_URL: z.string().optional(),
});

const BODY_LIMIT = 4096;
/** Longest one statement may take: the ambassador answers at once, so this only bounds a hung server. */
const STATEMENT_TIMEOUT_MS = 15_000;

class Unavailable extends Error {}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > BODY_LIMIT) {
        reject(new RangeError(`a note holds at most ${BODY_LIMIT} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

await runProgram(log, async () => {
  const env = loadEnv(Env);
  const ssm = new SSMClient({ maxAttempts: 3 });
  let password: string | undefined;
  let schemaReady = false;

  // The database service writes the password on its first start, which may come after ours: until
  // then every request answers 503 and the next one asks again.
  const readPassword = async () => {
    try {
      const r = await ssm.send(
        new GetParameterCommand({ Name: env.DB_PASSWORD_PARAM, WithDecryption: true }),
      );
      if (!r.Parameter?.Value) throw new Unavailable(`${env.DB_PASSWORD_PARAM} is empty`);
      return r.Parameter.Value;
    } catch (e) {
      if ((e as Error).name === "ParameterNotFound")
        throw new Unavailable(`${env.DB_PASSWORD_PARAM} not made yet (the database service makes it)`);
      throw e;
    }
  };

  /** Run SQL through psql (stdin, so values pass as psql variables and are quoted by psql itself). */
  const psql = async (sql: string, vars: Record<string, string> = {}): Promise<string> => {
    password ??= await readPassword();
    const args = ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"];
    for (const [k, v] of Object.entries(vars)) args.push("-v", `${k}=${v}`);
    const child = spawn("psql", args, {
      env: {
        PATH: process.env.PATH,
        PGHOST: env.DB_HOST,
        PGPORT: String(env.DB_PORT),
        PGDATABASE: env.DB_NAME,
        PGUSER: env.DB_NAME,
        PGPASSWORD: password,
        PGCONNECT_TIMEOUT: "5",
        PGOPTIONS: `-c statement_timeout=${STATEMENT_TIMEOUT_MS}`,
        PGAPPNAME: "notes",
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
    // A refused password is re-read next time (the database service sets the stored one at each start).
    if (/password authentication failed/.test(err)) password = undefined;
    // Exit 2: the connection failed or broke; 1 or 3: the statement failed.
    if (code === 2) throw new Unavailable(`database not reachable: ${err.trim().split("\n")[0] ?? ""}`);
    throw new Error(`psql exit ${code}: ${err.trim()}`);
  };

  const ensureSchema = async () => {
    if (schemaReady) return;
    await psql(
      "CREATE TABLE IF NOT EXISTS notes (id bigserial PRIMARY KEY, body text NOT NULL, created timestamptz NOT NULL DEFAULT now());",
    );
    schemaReady = true;
  };

  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body) + "\n");
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthz") return send(res, 200, { ok: true });
    if (path !== "/notes") return send(res, 404, { error: "not found" });
    if (req.method === "POST") {
      const body = await readBody(req);
      if (!body.trim()) return send(res, 400, { error: "an empty note" });
      await ensureSchema();
      // psql answers once the INSERT's transaction committed (synchronous_commit is on), so a 201
      // means the row is on the database's volume.
      const id = await psql("INSERT INTO notes (body) VALUES (:'body') RETURNING id;", { body });
      log.info("note.stored", { id });
      return send(res, 201, { id: Number(id) });
    }
    if (req.method === "GET") {
      await ensureSchema();
      const rows = await psql(
        "SELECT coalesce(json_agg(json_build_object('id', id, 'body', body) ORDER BY id), '[]') FROM notes;",
      );
      return send(res, 200, JSON.parse(rows) as unknown);
    }
    res.setHeader("allow", "GET, POST");
    return send(res, 405, { error: "method not allowed" });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const err = e as Error;
      if (err instanceof RangeError) return send(res, 413, { error: err.message });
      const unavailable = err instanceof Unavailable;
      log[unavailable ? "warn" : "error"]("request.failed", { error: err.message });
      send(res, unavailable ? 503 : 500, { error: unavailable ? err.message : "internal error" });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(env.PORT, env.LISTEN_ADDRESS, () => resolve());
  });
  log.info("listening", { address: env.LISTEN_ADDRESS, port: env.PORT, database: env.DB_NAME });
  return {
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
});
