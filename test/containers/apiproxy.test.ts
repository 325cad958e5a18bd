// The API-key proxy and its Redis, run for real: both images in podman on a loopback address, moto's
// SSM (IAM enforced, the nodes' role from the template) holding the purchased keys and the cache's
// password, and a fake paid API on loopback that refuses any call without the right key. Callers
// send X-Remote-User/X-Remote-Groups from the address of a front door announced in etcd, as the
// front door does after sign-in (its stripping of forged headers is tested in sso.test.ts); the
// proxy's per-route group check is its own.
import { execFile } from "node:child_process";
import { Agent, createServer, request, type IncomingMessage, type Server } from "node:http";
import { promisify } from "node:util";
import { GetParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../../functions/domain/poll.ts";
import { encodeApiRoutes } from "../../functions/domain/apiRoutes.ts";
import { CONTAINERS_CONF } from "../../local/containers.ts";
import type { AwsCredentials } from "../../local/moto.ts";
import { useRig } from "../rig/index.ts";
import { builtImages } from "../rig/images.ts";
import { templateRoleStatements } from "../rig/roles.ts";

const sh = promisify(execFile);
const rig = useRig({ moto: true, etcdMembers: 1 });
const CLUSTER = "aptest";
const REDIS_PORT = 16_379;
const PROXY_PORT = 18_097;
const UPSTREAM_PORT = 18_098;
const podmanEnv = { ...process.env, CONTAINERS_CONF };
const podman = (args: string[]) => sh("podman", args, { env: podmanEnv, maxBuffer: 16 * 1024 * 1024 });
const started: string[] = [];
const images: Record<string, string> = {};
let ip = "";
let upstreamIp = "";
/** The announced front door's address: callers' requests leave from it, as the front door's do. */
let doorIp = "";
let nodeCreds: AwsCredentials;
let upstream: Server;
let proxyName = "";
let redisName = "";
let n = 0;

/** Purchased keys: distinct, long enough to grep for, never seen by a caller. */
const KEYS = { hdr: "hdr-KEY-5f1c9e0a7b3d4e28", qry: "qry+KEY/9a8b7c6d5e4f3a21" };
/** Everything any caller received, to grep for the keys at the end. */
const received: string[] = [];
/** What the fake upstream saw: path, query, the key it got and how. */
const calls: { path: string; key: string | undefined; method: string }[] = [];

function fakeUpstream(): Promise<Server> {
  const s = createServer((req: IncomingMessage, res) => {
    const url = new URL(req.url ?? "/", "http://upstream");
    const key = req.headers["x-api-key"]
      ? String(req.headers["x-api-key"])
      : (url.searchParams.get("apikey") ?? undefined);
    calls.push({ path: url.pathname, key, method: req.method ?? "" });
    // A paid API: no right key, no answer.
    if (key !== KEYS.hdr && key !== KEYS.qry) {
      res.writeHead(401, { "content-type": "application/json" }).end('{"error":"bad key"}');
      return;
    }
    if (url.pathname.endsWith("/fail")) {
      res.writeHead(500, { "content-type": "application/json" }).end('{"error":"upstream broke"}');
      return;
    }
    if (url.pathname.endsWith("/leak")) {
      // A careless API that echoes the key back in its body and a redirect.
      res
        .writeHead(200, {
          "content-type": "text/plain",
          location: `https://x.invalid/?k=${encodeURIComponent(key)}`,
        })
        .end(`your key is ${key} (${encodeURIComponent(key)})`);
      return;
    }
    const body = JSON.stringify({ path: url.pathname, q: url.searchParams.get("q"), n: calls.length });
    res.writeHead(200, { "content-type": "application/json" }).end(body);
  });
  return new Promise((resolve) => s.listen(UPSTREAM_PORT, upstreamIp, () => resolve(s)));
}

async function run(image: string, env: Record<string, string>, prefix: string): Promise<string> {
  const name = `${prefix}-${process.pid}-${++n}`;
  started.push(name);
  const all: Record<string, string> = {
    AWS_REGION: "eu-west-1",
    AWS_ENDPOINT_URL: rig.moto!.endpoint,
    AWS_ACCESS_KEY_ID: nodeCreds.accessKeyId,
    AWS_SECRET_ACCESS_KEY: nodeCreds.secretAccessKey,
    ...(nodeCreds.sessionToken ? { AWS_SESSION_TOKEN: nodeCreds.sessionToken } : {}),
    ...env,
  };
  await podman([
    "run",
    "-d",
    "--name",
    name,
    "--net",
    "host",
    ...Object.entries(all).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
    image,
  ]);
  return name;
}

const logsOf = async (name: string) => {
  const r = await podman(["logs", name]);
  return r.stdout + r.stderr;
};
const codes = async (name: string) =>
  (await logsOf(name))
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown> & { code?: string });

async function listening(name: string) {
  const ok = await pollUntil(
    async () => ((await codes(name)).some((l) => l.code === "listening") ? true : undefined),
    { timeoutMs: 120_000, intervalMs: 250 },
  );
  expect(ok, await logsOf(name)).toBe(true);
}

const ROUTES = [
  `hdr http://UP/v1 header:X-Api-Key groups=developers,admins ttl=3 rate=1000/min`,
  `qry http://UP/v1 query:apikey groups=developers ttl=60 rate=1000/min`,
  `tight http://UP/v1 header:X-Api-Key groups=developers ttl=0 rate=3/h`,
  `nokey http://UP/v1 header:X-Api-Key groups=developers`,
  `admin http://UP/v1 header:X-Api-Key groups=admins`,
];

/** One call to the proxy, from the front door's address unless `from` says otherwise. */
function call(
  path: string,
  opts: { user?: string; groups?: string; method?: string; body?: string; from?: string } = {},
): Promise<{ status: number; cache: string | null; headers: Headers; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `http://${ip}:${PROXY_PORT}${path}`,
      {
        method: opts.method ?? "GET",
        localAddress: opts.from ?? doorIp,
        agent: new Agent({ keepAlive: false }),
        headers: {
          ...(opts.user !== "" ? { "x-remote-user": opts.user ?? "alice" } : {}),
          "x-remote-groups": opts.groups ?? "developers",
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const headers = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") headers.set(k, v);
          received.push(JSON.stringify(res.headers) + text);
          resolve({ status: res.statusCode ?? 0, cache: headers.get("x-cache"), headers, text });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}
const upstreamCalls = (path: string) => calls.filter((c) => c.path === path).length;

beforeAll(async () => {
  ip = rig.block.address(40);
  upstreamIp = rig.block.address(41);
  doorIp = rig.block.address(43);
  // A front door as presence announces one: the proxy trusts identity headers from its address only.
  const etcd = new Etcd3({ hosts: rig.etcd!.endpoints });
  await etcd.put("/services/nginx/instances/nginx@1.service").value(
    JSON.stringify({
      service: "nginx",
      instance: "nginx@1.service",
      privateIp: doorIp,
      port: 80,
      ports: { http: 80 },
    }),
  );
  etcd.close();
  nodeCreds = await rig.roleCredentials(
    templateRoleStatements("node", { bucket: "notused", cluster: CLUSTER }),
  );
  Object.assign(images, await builtImages(["redis", "apiproxy"]));
  upstream = await fakeUpstream();
  // The operator stores the purchased keys (as the admin, not the node: a node never writes them).
  const admin = new SSMClient({});
  for (const [route, key] of Object.entries(KEYS))
    await admin.send(
      new PutParameterCommand({
        Name: `/devcluster/${CLUSTER}/api/${route}/key`,
        Value: key,
        Type: "SecureString",
      }),
    );
  await admin.send(
    new PutParameterCommand({
      Name: `/devcluster/${CLUSTER}/api/tight/key`,
      Value: KEYS.hdr,
      Type: "SecureString",
    }),
  );
  await admin.send(
    new PutParameterCommand({
      Name: `/devcluster/${CLUSTER}/api/admin/key`,
      Value: KEYS.hdr,
      Type: "SecureString",
    }),
  );
  redisName = await run(images.redis!, { LISTEN_ADDRESS: ip, PORT: String(REDIS_PORT), CLUSTER }, "redis");
  await listening(redisName);
  proxyName = await run(
    images.apiproxy!,
    {
      LISTEN_ADDRESS: ip,
      PORT: String(PROXY_PORT),
      CLUSTER,
      REDIS_HOST: ip,
      REDIS_PORT: String(REDIS_PORT),
      REDIS_PASSWORD_PARAM: `/devcluster/${CLUSTER}/db/redis/password`,
      ETCD_ENDPOINTS: rig.etcd!.endpoints.join(","),
      API_ROUTES: encodeApiRoutes(ROUTES.map((r) => r.replace("UP", `${upstreamIp}:${UPSTREAM_PORT}`))),
    },
    "apiproxy",
  );
  await listening(proxyName);
  const doors = await pollUntil(
    async () => ((await codes(proxyName)).some((l) => l.code === "front_doors") ? true : undefined),
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  expect(doors, "the proxy read the front doors").toBe(true);
}, 900_000);

afterAll(async () => {
  for (const name of started) await podman(["rm", "-f", "-t", "5", name]).catch(() => {});
  await new Promise((r) => upstream?.close(r));
}, 60_000);

describe("the cache (redis)", () => {
  it("keeps its password in SSM as a SecureString and answers nothing without it", async () => {
    const p = await new SSMClient({}).send(
      new GetParameterCommand({ Name: `/devcluster/${CLUSTER}/db/redis/password`, WithDecryption: true }),
    );
    expect(p.Parameter?.Type).toBe("SecureString");
    const pw = p.Parameter!.Value!;
    expect(pw.length).toBeGreaterThanOrEqual(32);
    // redis-cli's exit status on an error reply differs between versions: read what it printed.
    const cli = (args: string[], auth?: string, host = ip) =>
      podman([
        "exec",
        ...(auth ? ["-e", `REDISCLI_AUTH=${auth}`] : []),
        redisName,
        "redis-cli",
        "-h",
        host,
        "-p",
        String(REDIS_PORT),
        ...args,
      ]).then(
        (r) => r.stdout + r.stderr,
        (e: { stdout?: string; stderr?: string }) => `${e.stdout ?? ""}${e.stderr ?? ""}`,
      );
    expect(await cli(["GET", "x"])).toMatch(/NOAUTH/);
    expect((await cli(["PING"], pw)).trim()).toBe("PONG");
    expect(await cli(["CONFIG", "GET", "save"], pw)).toMatch(/unknown command/i);
    // Bound to the given address only: another address of the same block does not answer.
    expect(await cli(["PING"], pw, rig.block.address(42))).toMatch(/Connection refused|Could not connect/);
    expect(await logsOf(redisName)).not.toContain(pw);
  });
});

describe("the API-key proxy", () => {
  it("applies the route's key as a header, caches a GET answer for its TTL, then asks again", async () => {
    const before = upstreamCalls("/v1/things");
    const a = await call("/hdr/things?q=1");
    expect(a.status, a.text).toBe(200);
    expect(a.cache).toBe("miss");
    expect(JSON.parse(a.text)).toMatchObject({ path: "/v1/things", q: "1" });
    expect(calls.at(-1)).toMatchObject({ path: "/v1/things", key: KEYS.hdr });
    const b = await call("/hdr/things?q=1");
    expect(b.cache).toBe("hit");
    expect(b.text).toBe(a.text);
    expect(upstreamCalls("/v1/things")).toBe(before + 1);
    // Another query is another answer.
    expect((await call("/hdr/things?q=2")).cache).toBe("miss");
    // ttl=3: after it the cache asks the upstream again (polled: the expiry is Redis's, at its pace).
    const again = await pollUntil(
      async () => ((await call("/hdr/things?q=1")).cache === "miss" ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    expect(again).toBe(true);
    expect(upstreamCalls("/v1/things")).toBe(before + 3);
  });

  it("applies the key as a query parameter, and the caller never sees it", async () => {
    const r = await call("/qry/search?q=x");
    expect(r.status, r.text).toBe(200);
    expect(calls.at(-1)).toMatchObject({ path: "/v1/search", key: KEYS.qry });
  });

  it("never caches an error answer, nor a POST", async () => {
    const f0 = upstreamCalls("/v1/fail");
    for (let i = 0; i < 2; i++) {
      const r = await call("/hdr/fail");
      expect(r.status).toBe(500);
      expect(r.cache).toBe("miss");
    }
    expect(upstreamCalls("/v1/fail")).toBe(f0 + 2);
    const p0 = calls.filter((c) => c.method === "POST").length;
    for (let i = 0; i < 2; i++) {
      const r = await call("/hdr/things", { method: "POST", body: '{"a":1}' });
      expect(r.status).toBe(200);
      expect(r.cache).toBe("bypass");
    }
    expect(calls.filter((c) => c.method === "POST").length).toBe(p0 + 2);
  });

  it("limits each user's calls per route: over the rate, 429 with Retry-After; other users unaffected", async () => {
    for (let i = 0; i < 3; i++) expect((await call("/tight/t", { user: "bob" })).status).toBe(200);
    const before = upstreamCalls("/v1/t");
    const over = await call("/tight/t", { user: "bob" });
    expect(over.status).toBe(429);
    expect(JSON.parse(over.text)).toMatchObject({ code: "rate.limited" });
    expect(Number(over.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(upstreamCalls("/v1/t")).toBe(before);
    expect((await call("/tight/t", { user: "carol" })).status).toBe(200);
  });

  it("refuses a group without access (403) and an unsigned caller (401), calling nothing", async () => {
    const before = calls.length;
    const r = await call("/admin/x", { groups: "developers" });
    expect(r.status).toBe(403);
    expect(JSON.parse(r.text)).toMatchObject({ code: "access.denied" });
    expect((await call("/hdr/x", { groups: "guests" })).status).toBe(403);
    expect((await call("/hdr/x", { user: "" })).status).toBe(401);
    expect((await call("/nosuch/x")).status).toBe(404);
    expect(calls.length).toBe(before);
    expect((await call("/admin/x", { groups: "developers,admins" })).status).toBe(200);
  });

  it("refuses a caller that is not an announced front door (403), whatever identity it claims", async () => {
    const before = calls.length;
    const r = await call("/hdr/things?q=1", { from: rig.block.address(44), groups: "developers,admins" });
    expect(r.status).toBe(403);
    expect(JSON.parse(r.text)).toMatchObject({ code: "caller.not_front_door" });
    expect(calls.length).toBe(before);
  });

  it("a route whose key is missing: a clear error, no upstream call, and the status says so", async () => {
    const before = calls.length;
    const r = await call("/nokey/x");
    expect(r.status).toBe(503);
    expect(JSON.parse(r.text)).toMatchObject({ code: "key.missing" });
    expect(JSON.parse(r.text).error).toMatch(/nokey.*no key/);
    expect(calls.length).toBe(before);
    const s = JSON.parse((await call("/status")).text) as { routes: { name: string; key: string }[] };
    expect(s.routes.find((x) => x.name === "nokey")?.key).toBe("missing");
    expect(s.routes.find((x) => x.name === "hdr")?.key).toBe("present");
  });

  it("redacts a key the upstream echoes back (body, headers), and caches only the redacted answer", async () => {
    for (const route of ["hdr", "qry"] as const) {
      const r = await call(`/${route}/leak`);
      expect(r.status).toBe(200);
      expect(r.text).toContain("[redacted]");
      expect(r.text).not.toContain(KEYS[route]);
      expect(r.headers.get("location")).toContain("[redacted]");
    }
  });

  it("audits every call (who, route, method, path, status, cache) and never writes, answers or stores a key", async () => {
    const audit = (await codes(proxyName)).filter((l) => l.code === "audit");
    expect(audit.length).toBeGreaterThan(10);
    expect(audit).toContainEqual(
      expect.objectContaining({
        user: "bob",
        route: "tight",
        method: "GET",
        path: "/tight/t",
        status: 429,
        cache: "bypass",
      }),
    );
    expect(audit).toContainEqual(
      expect.objectContaining({
        user: "alice",
        route: "hdr",
        path: "/hdr/things",
        status: 200,
        cache: "hit",
      }),
    );
    const pw = (
      await new SSMClient({}).send(
        new GetParameterCommand({ Name: `/devcluster/${CLUSTER}/db/redis/password`, WithDecryption: true }),
      )
    ).Parameter!.Value!;
    const stored = await podman([
      "exec",
      "-e",
      `REDISCLI_AUTH=${pw}`,
      redisName,
      "sh",
      "-c",
      `for k in $(redis-cli -h ${ip} -p ${REDIS_PORT} --scan); do redis-cli -h ${ip} -p ${REDIS_PORT} --no-raw GET "$k"; done`,
    ]);
    expect(stored.stdout).toContain("[redacted]");
    const outputs = [received.join("\n"), await logsOf(proxyName), await logsOf(redisName), stored.stdout];
    for (const key of Object.values(KEYS))
      for (const form of [key, encodeURIComponent(key), Buffer.from(key).toString("base64")])
        for (const out of outputs) expect(out.includes(form), `a form of a key leaked: ${form}`).toBe(false);
  });

  it("refuses bad routes at start with a clear error (exit 2) and serves nothing", async () => {
    const name = await run(
      images.apiproxy!,
      {
        LISTEN_ADDRESS: ip,
        PORT: String(PROXY_PORT + 1),
        CLUSTER,
        REDIS_PASSWORD_PARAM: `/devcluster/${CLUSTER}/db/redis/password`,
        API_ROUTES: encodeApiRoutes(["bad http://example.com/v1 header:X-Api-Key groups=developers"]),
      },
      "apiproxy-bad",
    );
    expect(Number((await podman(["wait", name])).stdout.trim())).toBe(2);
    const err = (await codes(name)).find((l) => l.code === "config.invalid");
    expect(String(err?.error)).toMatch(/must be https/);
  });
});

describe("a restart of the cache", () => {
  it("starts empty (no persistence: a cache), and the proxy reconnects by itself", async () => {
    expect((await call("/qry/restart?q=1")).cache).toBe("miss");
    expect((await call("/qry/restart?q=1")).cache).toBe("hit");
    await podman(["restart", "-t", "10", redisName]);
    // Until the proxy has reconnected, calls answer 503; polled, as reconnecting takes its time under load.
    const back = await pollUntil(
      async () => {
        const r = await call("/qry/restart?q=1");
        return r.status === 200 ? r : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(back?.cache).toBe("miss");
  });
});
