// MediaWiki run for real: its image (Debian's MediaWiki, nginx, php-fpm) and the Postgres building
// block's image in podman on loopback addresses, directories as their volumes, moto's SSM as the
// parameter store with the nodes' role from the template (moto enforces IAM), and etcd announcing
// the front door whose X-Remote-User the wiki trusts. The first start installs the schema; a page
// saved through the API as a front-door user is shown; an upload lands on the volume; a restart
// keeps it all without installing again; a missing password stops the start, naming it.
import { execFile } from "node:child_process";
import { request } from "node:http";
import { mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { crc32, deflateSync } from "node:zlib";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { Etcd3 } from "etcd3";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../../functions/domain/poll.ts";
import { PROJECT_ROOT } from "../../local/paths.ts";
import { CONTAINERS_CONF } from "../../local/containers.ts";
import type { AwsCredentials } from "../../local/moto.ts";
import { useRig } from "../rig/index.ts";
import { templateRoleStatements } from "../rig/roles.ts";

const sh = promisify(execFile);
const rig = useRig({ moto: true, etcdMembers: 1 });
const CLUSTER = "mwtest";
const BUCKET = "mwtest-snapshots";
const DOMAIN = "mwtest.example";
const PG_PORT = 15_437;
const WIKI_PORT = 18_092;
const podmanEnv = { ...process.env, CONTAINERS_CONF };
const podman = (args: string[]) => sh("podman", args, { env: podmanEnv, maxBuffer: 16 * 1024 * 1024 });
/** Containers each test stops; the database runs through the whole file. */
const started: string[] = [];
const lasting: string[] = [];
const images: Record<string, string> = {};
let ip = "";
let doorIp = "";
let otherIp = "";
let nodeCreds: AwsCredentials;
/** The database service's container. */
let pgName = "";
let n = 0;
const uploads = () => join(rig.dir, "wiki-volume");

const awsEnv = () => ({
  AWS_REGION: "eu-west-1",
  AWS_ENDPOINT_URL: rig.moto!.endpoint,
  AWS_ACCESS_KEY_ID: nodeCreds.accessKeyId,
  AWS_SECRET_ACCESS_KEY: nodeCreds.secretAccessKey,
  ...(nodeCreds.sessionToken ? { AWS_SESSION_TOKEN: nodeCreds.sessionToken } : {}),
});

async function run(image: string, env: Record<string, string>, extra: string[], tracked: string[]) {
  const name = `mwtest-${process.pid}-${++n}`;
  tracked.push(name);
  const envArgs = Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
  await podman(["run", "-d", "--name", name, "--net", "host", ...extra, ...envArgs, image]);
  return name;
}

/** The wiki on its volume, reaching the database at its address directly (the ambassador's part on a node). */
const startWiki = (env: Record<string, string> = {}, volume = uploads()) =>
  run(
    images.mediawiki!,
    {
      LISTEN_ADDRESS: ip,
      PORT: String(WIKI_PORT),
      CLUSTER,
      DOMAIN,
      DB_HOST: ip,
      DB_PORT: String(PG_PORT),
      DB_PASSWORD_PARAM: `/devcluster/${CLUSTER}/db/postgres/mediawiki/password`,
      ETCD_ENDPOINTS: rig.etcd!.endpoints.join(","),
      ...awsEnv(),
      ...env,
    },
    ["-v", `${volume}:/var/lib/mediawiki-data`],
    started,
  );

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}
/** One HTTP request to the wiki from `from` (the front door's address unless said). */
function call(
  method: string,
  path: string,
  opts: {
    from?: string;
    user?: string;
    groups?: string;
    cookie?: string;
    body?: string | Buffer;
    type?: string;
    port?: number;
  } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: ip,
        port: opts.port ?? WIKI_PORT,
        method,
        path,
        agent: false,
        localAddress: opts.from ?? doorIp,
        headers: {
          host: `wiki.${DOMAIN}`,
          ...(opts.user ? { "x-remote-user": opts.user } : {}),
          ...(opts.groups ? { "x-remote-groups": opts.groups } : {}),
          ...(opts.cookie ? { cookie: opts.cookie } : {}),
          ...(opts.body !== undefined
            ? { "content-type": opts.type ?? "application/x-www-form-urlencoded" }
            : {}),
        },
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}
/** The cookies a reply sets, the last value of each name (MediaWiki may set its session twice). */
const cookiesOf = (r: Reply) => {
  const jar = new Map<string, string>();
  for (const c of ([] as string[]).concat(r.headers["set-cookie"] ?? [])) {
    const pair = c.split(";")[0]!;
    const i = pair.indexOf("=");
    jar.set(pair.slice(0, i), pair.slice(i + 1));
  }
  return [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
};

/** A front-door user's API session: their cookie and their edit token. */
async function apiSession(user: string, groups = "developers") {
  const r = await call("GET", "/api.php?action=query&meta=tokens&format=json", { user, groups });
  expect(r.status, r.body).toBe(200);
  const token = (JSON.parse(r.body) as { query: { tokens: { csrftoken: string } } }).query.tokens.csrftoken;
  expect(token).not.toBe("+\\");
  return { cookie: cookiesOf(r), token, user, groups };
}
type ApiSession = Awaited<ReturnType<typeof apiSession>>;

const api = async (s: ApiSession, fields: Record<string, string>) => {
  const r = await call("POST", "/api.php", {
    user: s.user,
    groups: s.groups,
    cookie: s.cookie,
    body: new URLSearchParams({ format: "json", ...fields, token: s.token }).toString(),
  });
  expect(r.status, r.body).toBe(200);
  return JSON.parse(r.body) as Record<string, Record<string, unknown>>;
};

/** A PNG of `width` x `height` RGBA pixels, made here (chunks with their CRCs, the pixels deflated). */
function png(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 6, 0, 0, 0], 8); // 8 bits, RGBA, deflate, no filter, no interlace
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(width * 4, 0x7f)]);
  const pixels = deflateSync(Buffer.concat(Array.from({ length: height }, () => row)));
  return Buffer.concat([
    Buffer.from("89504e470d0a1a0a", "hex"),
    chunk("IHDR", ihdr),
    chunk("IDAT", pixels),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}
const PNG = png(3, 2);

function multipart(
  fields: Record<string, string>,
  file: { field: string; name: string; type: string; data: Buffer },
) {
  const boundary = `----devcluster${Date.now()}`;
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(fields))
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
  parts.push(
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="${file.field}"; filename="${file.name}"\r\nContent-Type: ${file.type}\r\n\r\n`,
    ),
    file.data,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  );
  return { body: Buffer.concat(parts), type: `multipart/form-data; boundary=${boundary}` };
}

/** Every file below `dir` (relative paths). */
const filesBelow = (dir: string, base = dir): string[] =>
  readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? filesBelow(p, base) : [p.slice(base.length + 1)];
  });

const logsOf = async (name: string) => {
  const r = await podman(["logs", name]);
  return r.stdout + r.stderr;
};
const codes = async (name: string) =>
  (await logsOf(name))
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { code?: string; error?: string; parameter?: string });

async function logged(name: string, code: string, timeoutMs = 300_000) {
  const ok = await pollUntil(
    async () => {
      const seen = (await codes(name)).map((l) => l.code);
      if (seen.includes(code)) return true;
      if (seen.includes("start.failed") || seen.includes("config.invalid")) return false;
      return undefined;
    },
    { timeoutMs, intervalMs: 500 },
  );
  expect(ok, await logsOf(name)).toBe(true);
}

const ssm = () => new SSMClient({});
const parameter = (name: string) =>
  ssm().send(new GetParameterCommand({ Name: `/devcluster/${CLUSTER}/db/${name}`, WithDecryption: true }));

beforeAll(async () => {
  ip = rig.block.address(41);
  doorIp = rig.block.address(43);
  otherIp = rig.block.address(44);
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
  nodeCreds = await rig.roleCredentials(templateRoleStatements("node", { bucket: BUCKET, cluster: CLUSTER }));
  await sh("bash", [join(PROJECT_ROOT, "containers", "build.sh"), "postgres", "mediawiki"], {
    cwd: PROJECT_ROOT,
    env: podmanEnv,
    maxBuffer: 16 * 1024 * 1024,
    timeout: 1_200_000,
  });
  Object.assign(
    images,
    JSON.parse(readFileSync(join(PROJECT_ROOT, ".build", "containers", "images.json"), "utf8")) as Record<
      string,
      string
    >,
  );
  // The database service, as on a node: it makes the wiki's database, role and password.
  const pgVolume = join(rig.dir, "pg-volume");
  mkdirSync(pgVolume);
  mkdirSync(uploads());
  const pg = await run(
    images.postgres!,
    {
      LISTEN_ADDRESS: ip,
      PORT: String(PG_PORT),
      CLUSTER,
      SERVICE: "postgres",
      // A second wiki's database, for the install that died half-way.
      CLIENTS: "mediawiki,wikiscratch",
      ...awsEnv(),
    },
    ["-v", `${pgVolume}:/var/lib/postgresql`],
    lasting,
  );
  await logged(pg, "listening");
  pgName = pg;
}, 1_500_000);

// Every test's wiki is gone before the next starts: they share the address and the port.
afterEach(async () => {
  for (const name of started.splice(0)) await podman(["rm", "-f", "-t", "20", name]).catch(() => {});
}, 120_000);

afterAll(async () => {
  for (const name of [...started, ...lasting]) await podman(["rm", "-f", "-t", "10", name]).catch(() => {});
}, 60_000);

describe("MediaWiki on the Postgres building block", { shuffle: false }, () => {
  it("first start: makes its keys once in SSM, installs the schema, and a front-door user saves a page, uploads a file and an admin is a sysop", async () => {
    const t0 = Date.now();
    const wiki = await startWiki();
    await logged(wiki, "listening");
    const firstStart = Date.now() - t0;
    // The front door is let in once read from etcd.
    await logged(wiki, "nginx.reloaded");
    const log = await codes(wiki);
    const seen = log.map((l) => l.code);
    expect(seen).toEqual(
      expect.arrayContaining(["schema.install.started", "schema.install.done", "schema.update.done"]),
    );
    expect(log.filter((l) => l.code === "key.created").map((l) => l.parameter)).toEqual([
      `/devcluster/${CLUSTER}/db/mediawiki/secret-key`,
      `/devcluster/${CLUSTER}/db/mediawiki/upgrade-key`,
    ]);
    const key = await parameter("mediawiki/secret-key");
    expect(key.Parameter!.Type).toBe("SecureString");
    expect(key.Parameter!.Value).toMatch(/^[0-9a-f]{64}$/);
    // No secret in the log.
    const text = await logsOf(wiki);
    expect(text).not.toContain(key.Parameter!.Value!);
    const dbPassword = (await parameter("postgres/mediawiki/password")).Parameter!.Value!;
    expect(text).not.toContain(dbPassword);

    // Healthy for presence, from anywhere on the node.
    expect((await call("GET", "/healthz", { from: otherIp })).status).toBe(200);

    // Alice, signed in by the front door: an account on first sight, a page saved through the API.
    const alice = await apiSession("alice");
    const me = await call("GET", "/api.php?action=query&meta=userinfo&uiprop=groups&format=json", {
      user: "alice",
      cookie: alice.cookie,
    });
    const info = (
      JSON.parse(me.body) as { query: { userinfo: { id: number; name: string; groups: string[] } } }
    ).query.userinfo;
    expect(info.name).toBe("Alice");
    expect(info.id).toBeGreaterThan(0);
    expect(info.groups).not.toContain("sysop");
    const edit = await api(alice, {
      action: "edit",
      title: "Devcluster test",
      text: "Written by the '''container test'''.",
      summary: "first page",
    });
    expect(edit.edit?.result, JSON.stringify(edit)).toBe("Success");
    const page = await call("GET", "/wiki/Devcluster_test", { user: "alice", cookie: alice.cookie });
    expect(page.status).toBe(200);
    expect(page.body).toContain("Written by the <b>container test</b>.");
    const history = await call(
      "GET",
      "/api.php?action=query&prop=revisions&titles=Devcluster_test&rvprop=user&format=json",
      { user: "alice", cookie: alice.cookie },
    );
    expect(history.body).toContain('"user":"Alice"');

    // An upload lands on the volume and is served from it.
    const form = multipart(
      {
        action: "upload",
        filename: "Devcluster dot.png",
        token: alice.token,
        ignorewarnings: "1",
        format: "json",
      },
      { field: "file", name: "dot.png", type: "image/png", data: PNG },
    );
    const up = await call("POST", "/api.php", {
      user: "alice",
      cookie: alice.cookie,
      body: form.body,
      type: form.type,
    });
    expect(up.body).toContain('"result":"Success"');
    const stored = filesBelow(uploads()).filter((f) => f.endsWith("Devcluster_dot.png"));
    expect(stored).toHaveLength(1);
    expect(readFileSync(join(uploads(), stored[0]!)).equals(PNG)).toBe(true);
    const served = await call("GET", `/${stored[0]}`, { user: "alice", cookie: alice.cookie });
    expect(served.status).toBe(200);
    expect(served.headers["content-type"]).toBe("image/png");

    // Bob is in the front door's admins: the wiki's sysop while he is.
    const bob = await call("GET", "/api.php?action=query&meta=userinfo&uiprop=groups&format=json", {
      user: "bob",
      groups: "developers,admins",
    });
    expect(bob.body).toContain('"sysop"');

    // The same header from anywhere but a front door never reaches MediaWiki.
    const forged = await call("GET", "/wiki/Devcluster_test", { from: otherIp, user: "alice" });
    expect(forged.status).toBe(403);
    // Without a front-door user nobody edits.
    const anon = await call("GET", "/api.php?action=query&meta=tokens&format=json");
    expect(anon.body).toContain('"csrftoken":"+\\\\"');
    console.log(`mediawiki: first start to listening ${(firstStart / 1000).toFixed(1)} s`);
  }, 600_000);

  it("a restart (or a second node on the same database) keeps the pages, the uploads and the keys, and never installs again", async () => {
    const before = (await parameter("mediawiki/secret-key")).Parameter!.Version;
    const t0 = Date.now();
    const wiki = await startWiki();
    await logged(wiki, "listening");
    await logged(wiki, "nginx.reloaded");
    console.log(`mediawiki: restart to listening ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const seen = (await codes(wiki)).map((l) => l.code);
    expect(seen).toContain("schema.update.done");
    expect(seen).not.toContain("schema.install.started");
    expect(seen).not.toContain("key.created");
    expect((await parameter("mediawiki/secret-key")).Parameter!.Version).toBe(before);
    const alice = await apiSession("alice");
    const page = await call("GET", "/wiki/Devcluster_test", { user: "alice", cookie: alice.cookie });
    expect(page.body).toContain("Written by the <b>container test</b>.");
    const file = await call(
      "GET",
      "/api.php?action=query&prop=imageinfo&titles=File:Devcluster_dot.png&iiprop=size&format=json",
      { user: "alice", cookie: alice.cookie },
    );
    expect(file.body).toContain('"width":3,"height":2');
  }, 600_000);

  it("when an install died half-way, its side schema is dropped and the install made again; the real schema is never touched", async () => {
    // What a start killed inside the installer leaves: MediaWiki's side schema with a table in it.
    const sql = (query: string) =>
      podman([
        "exec",
        "-u",
        "postgres",
        pgName,
        "psql",
        "-X",
        "-tA",
        "-h",
        "/run/postgresql",
        "-p",
        String(PG_PORT),
        "-d",
        "wikiscratch",
        "-c",
        query,
      ]);
    await sql(
      "CREATE SCHEMA mediawiki_install AUTHORIZATION wikiscratch; CREATE TABLE mediawiki_install.half_made (x int); ALTER TABLE mediawiki_install.half_made OWNER TO wikiscratch;",
    );
    const volume = join(rig.dir, "wiki-scratch-volume");
    mkdirSync(volume);
    const wiki = await startWiki(
      {
        DB_NAME: "wikiscratch",
        DB_PASSWORD_PARAM: `/devcluster/${CLUSTER}/db/postgres/wikiscratch/password`,
      },
      volume,
    );
    await logged(wiki, "listening");
    const seen = (await codes(wiki)).map((l) => l.code);
    expect(seen).toEqual(
      expect.arrayContaining([
        "schema.install.leftover_dropped",
        "schema.install.done",
        "schema.update.done",
      ]),
    );
    expect(
      (
        await sql("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'mediawiki%' ORDER BY 1")
      ).stdout.trim(),
    ).toBe("mediawiki");
    expect((await sql("SELECT to_regclass('mediawiki.page') IS NOT NULL")).stdout.trim()).toBe("t");
    // The wiki made there serves its users.
    await logged(wiki, "nginx.reloaded");
    const alice = await apiSession("alice");
    expect(alice.token).toBeTruthy();
  }, 600_000);

  it("without its database password's parameter it stops, naming the parameter, and touches nothing", async () => {
    const missing = `/devcluster/${CLUSTER}/db/postgres/nowiki/password`;
    const wiki = await startWiki({ DB_PASSWORD_PARAM: missing });
    expect(Number((await podman(["wait", wiki])).stdout.trim())).toBe(1);
    const failed = (await codes(wiki)).find((l) => l.code === "start.failed");
    expect(failed?.error).toContain(missing);
    expect(failed?.error).toContain("does not exist");
  }, 120_000);
});
