// notes: the catalog's sample database client. It keeps short notes in its own database of the
// cluster's Postgres, reached through its ambassador (127.0.0.1:5432 follows the elected primary),
// with the password the database service generated into SSM. POST /notes stores one and answers
// only once Postgres committed it; GET /notes lists every stored note.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { SSMClient } from "@aws-sdk/client-ssm";
import { z } from "zod";
import { int, loadEnv } from "../../shared/config.ts";
import { programLogger } from "../../shared/log.ts";
import { psqlClient, Unavailable } from "../../shared/psql.ts";
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
  let schemaReady = false;
  const psql = psqlClient(
    ssm,
    { host: env.DB_HOST, port: env.DB_PORT, name: env.DB_NAME, passwordParam: env.DB_PASSWORD_PARAM },
    "notes",
  );

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
