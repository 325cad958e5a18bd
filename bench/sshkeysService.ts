// The SSH-key service's list endpoints: latency (p50/p99) of GET /v1/accounts and GET /v1/keys/<user>
// from the running lists role (the pool's users from its cache, the keys from Postgres through psql,
// an ed25519 signature) against serving a static file of the same size through the same HTTP stack
// (Node's http server in the same image, same host network), in one run, rounds alternating. Also
// the service's start time (podman run to listening) and memory. The sshkeys and postgres images in
// podman, moto's Cognito (USERS users, 2 keys each) and SSM.
//   npx tsx bench/sshkeysService.ts [--calls 600] [--rounds 3] [--users 50]
import { execFile } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { Agent, request } from "node:http";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { CognitoIdentityProviderClient } from "@aws-sdk/client-cognito-identity-provider";
import { pollUntil } from "../functions/domain/poll.ts";
import { parseSshPublicKey } from "../functions/domain/sshKeys.ts";
import { ensureUserPool } from "../functions/adapters/aws/cognitoPool.ts";
import { cognitoUserDirectory } from "../functions/adapters/aws/cognitoUsers.ts";
import { addUser } from "../functions/operations/users.ts";
import { CONTAINERS_CONF } from "../local/containers.ts";
import { reserveLoopbackBlock } from "../local/loopback.ts";
import { startMoto } from "../local/moto.ts";
import { PROJECT_ROOT } from "../local/paths.ts";
import { out } from "./lib.ts";

const sh = promisify(execFile);
const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const CALLS = arg("calls", 600);
const ROUNDS = arg("rounds", 3);
const USERS = arg("users", 50);
const CLUSTER = "bench";
const PG_PORT = 15_452;
const LISTS_PORT = 18_200;
const STATIC_PORT = 18_201;
const env = { ...process.env, CONTAINERS_CONF };
const podman = (args: string[]) => sh("podman", args, { env, maxBuffer: 64 * 1024 * 1024 });

const block = reserveLoopbackBlock();
const ip = block.address(40);
const dir = mkdtempSync(join(tmpdir(), "devcluster-bench-sshkeys-"));
const moto = await startMoto({ host: block.address(1), dir: join(dir, "moto") });
const aws = { endpoint: moto.endpoint, region: "eu-west-1", credentials: moto.admin };
const names: string[] = [];

/** An OpenSSH ed25519 public key line made in-process (ssh-keygen per key would dominate the setup). */
function ed25519Line(comment: string): string {
  const x = Buffer.from(generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" }).x!, "base64url");
  const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return `ssh-ed25519 ${Buffer.concat([str(Buffer.from("ssh-ed25519")), str(x)]).toString("base64")} ${comment}`;
}

try {
  await sh("bash", [join(PROJECT_ROOT, "containers", "build.sh"), "postgres", "sshkeys"], {
    cwd: PROJECT_ROOT,
    env,
    maxBuffer: 16 * 1024 * 1024,
  });
  const images = JSON.parse(
    readFileSync(join(PROJECT_ROOT, ".build", "containers", "images.json"), "utf8"),
  ) as Record<string, string>;
  const cognito = new CognitoIdentityProviderClient(aws);
  const pool = await ensureUserPool(cognito, CLUSTER);
  const users = cognitoUserDirectory(cognito, pool.userPoolId);
  const userNames = Array.from({ length: USERS }, (_, i) => `user${String(i).padStart(3, "0")}`);
  for (const u of userNames)
    await addUser(users, u, { password: "Bench-password-123", groups: ["developers"] });

  const run = async (
    image: string,
    vars: Record<string, string>,
    prefix: string,
    extra: string[] = [],
    cmd: string[] = [],
  ) => {
    const name = `bench-${prefix}-${process.pid}`;
    names.push(name);
    const t0 = performance.now();
    await podman([
      "run",
      "-d",
      "--name",
      name,
      "--net",
      "host",
      ...extra,
      ...Object.entries({
        AWS_REGION: "eu-west-1",
        AWS_ENDPOINT_URL: moto.endpoint,
        AWS_ACCESS_KEY_ID: moto.admin.accessKeyId,
        AWS_SECRET_ACCESS_KEY: moto.admin.secretAccessKey,
        CLUSTER,
        LISTEN_ADDRESS: ip,
        ...vars,
      }).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
      image,
      ...cmd,
    ]);
    const ok = await pollUntil(
      async () => ((await podman(["logs", name])).stdout.includes('"code":"listening"') ? true : undefined),
      { timeoutMs: 120_000, intervalMs: 50 },
    );
    if (!ok) throw new Error(`${name} did not start: ${(await podman(["logs", name])).stdout}`);
    return { name, startMs: performance.now() - t0 };
  };
  mkdirSync(join(dir, "pg"));
  const pg = await run(
    images.postgres!,
    { PORT: String(PG_PORT), SERVICE: "postgres", CLIENTS: "sshkeys" },
    "pg",
    ["-v", `${join(dir, "pg")}:/var/lib/postgresql`],
  );
  const lists = await run(
    images.sshkeys!,
    {
      ROLE: "lists",
      PORT: String(LISTS_PORT),
      USER_POOL_ID: pool.userPoolId,
      DB_HOST: ip,
      DB_PORT: String(PG_PORT),
      DB_PASSWORD_PARAM: `/devcluster/${CLUSTER}/db/postgres/sshkeys/password`,
    },
    "lists",
  );
  // The keys, written as the page would store them (validated line and fingerprint).
  const rows = userNames.flatMap((u) =>
    [1, 2].map((n) => {
      const k = parseSshPublicKey(ed25519Line(`${u}@host${n}`));
      return `('${u}', '${k.fingerprint}', '${k.line}')`;
    }),
  );
  await podman([
    "exec",
    "-u",
    "postgres",
    pg.name,
    "psql",
    "-X",
    "-q",
    "-h",
    "/run/postgresql",
    "-p",
    String(PG_PORT),
    "-d",
    "sshkeys",
    "-c",
    `INSERT INTO ssh_keys (username, fingerprint, line) VALUES ${rows.join(",")}`,
  ]);

  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const get = (port: number, path: string) =>
    new Promise<string>((resolve, reject) => {
      const req = request({ host: ip, port, path, agent }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () =>
          res.statusCode === 200 ? resolve(text) : reject(new Error(`${path}: ${res.statusCode} ${text}`)),
        );
      });
      req.on("error", reject);
      req.end();
    });
  const accounts = await get(LISTS_PORT, "/v1/accounts");
  const one = await get(LISTS_PORT, "/v1/keys/user007");
  if (!accounts.includes("user049") && USERS >= 50) throw new Error("the list lacks users");
  // The baseline: the same bytes as files, served by Node's http server in the same image.
  mkdirSync(join(dir, "static"));
  writeFileSync(join(dir, "static", "accounts"), accounts);
  writeFileSync(join(dir, "static", "one"), one);
  const server = `const http=require("http"),fs=require("fs");http.createServer((q,s)=>{const f=q.url==="/accounts"?"/data/accounts":"/data/one";fs.readFile(f,(e,b)=>{if(e){s.writeHead(404).end();return}s.writeHead(200,{"content-type":"text/plain; charset=utf-8","cache-control":"no-store"}).end(b)})}).listen(${STATIC_PORT},"${ip}",()=>console.log('{"code":"listening"}'))`;
  await run(
    images.sshkeys!,
    {},
    "static",
    ["-v", `${join(dir, "static")}:/data:ro`, "--entrypoint", "node"],
    ["-e", server],
  );

  // Warm up both (connections, JIT, the service's directory cache).
  for (let i = 0; i < 50; i++) {
    await get(LISTS_PORT, "/v1/accounts");
    await get(LISTS_PORT, "/v1/keys/user007");
    await get(STATIC_PORT, "/accounts");
    await get(STATIC_PORT, "/one");
  }
  const targets = {
    "service /v1/accounts": [LISTS_PORT, "/v1/accounts"],
    "static file, same size": [STATIC_PORT, "/accounts"],
    "service /v1/keys/<user>": [LISTS_PORT, "/v1/keys/user007"],
    "static file, same size ": [STATIC_PORT, "/one"],
  } as const;
  type Target = keyof typeof targets;
  const lat = Object.fromEntries(Object.keys(targets).map((t) => [t, [] as number[]])) as Record<
    Target,
    number[]
  >;
  for (let round = 0; round < ROUNDS; round++)
    for (const t of Object.keys(targets) as Target[])
      for (let i = 0; i < CALLS / ROUNDS; i++) {
        const t0 = performance.now();
        await get(targets[t][0], targets[t][1]);
        lat[t].push(performance.now() - t0);
      }
  const pct = (xs: number[], p: number) =>
    [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
  const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  out(
    `SSH-key lists, ${CALLS} sequential GETs per path in ${ROUNDS} alternating rounds, ${USERS} pool users with 2 keys each (/v1/accounts ${accounts.length} B, one user's ${one.length} B), load ${load}`,
  );
  out("| path | p50 ms | p99 ms | p50 ratio to static | p99 ratio to static |");
  out("|---|---|---|---|---|");
  const base: Record<Target, Target> = {
    "service /v1/accounts": "static file, same size",
    "static file, same size": "static file, same size",
    "service /v1/keys/<user>": "static file, same size ",
    "static file, same size ": "static file, same size ",
  };
  for (const t of Object.keys(targets) as Target[]) {
    const b = base[t];
    const [p50, p99, b50, b99] = [pct(lat[t], 50), pct(lat[t], 99), pct(lat[b], 50), pct(lat[b], 99)];
    out(
      `| ${t.trim()} | ${p50.toFixed(2)} | ${p99.toFixed(2)} | ${t === b ? "(baseline)" : (p50 / b50).toFixed(1) + "x"} | ${t === b ? "(baseline)" : (p99 / b99).toFixed(1) + "x"} |`,
    );
  }
  out(`\nStart (podman run to listening): lists role ${lists.startMs.toFixed(0)} ms`);
  const mem = (
    await podman(["stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", lists.name])
  ).stdout.trim();
  out(`Memory after the run: ${mem}`);
  agent.destroy();
} finally {
  for (const n of names) await podman(["rm", "-f", "-t", "5", n]).catch(() => {});
  await moto.stop();
  block.release();
  rmSync(dir, { recursive: true, force: true });
}
