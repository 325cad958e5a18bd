// The file drop, run for real: its image in podman on a loopback address (the app and the public
// download host), moto as S3 and SES, and the nodes' role from the template (moto enforces IAM), so
// the service, and the presigned URLs it signs, can do exactly what a node may. An upload goes
// through presigned parts as the page sends them; the link is read back from moto's sent mail and
// followed without a session. Requests to the app leave from a front door announced in etcd, as the
// front door's do after sign-in; the same header from anywhere else is refused.
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutBucketCorsCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { chromium } from "playwright-core";
import { SESClient, VerifyEmailIdentityCommand } from "@aws-sdk/client-ses";
import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../../functions/domain/poll.ts";
import { PROJECT_ROOT } from "../../local/paths.ts";
import { CONTAINERS_CONF } from "../../local/containers.ts";
import type { AwsCredentials } from "../../local/moto.ts";
import { useRig } from "../rig/index.ts";
import { httpAsk } from "../rig/http.ts";
import { templateRoleStatements } from "../rig/roles.ts";

const sh = promisify(execFile);
const rig = useRig({ moto: true, etcdMembers: 1 });
const CLUSTER = "droptest";
const BUCKET = "droptest-snapshots";
const SENDER = "filedrop@dev.test";
const APP_PORT = 18_097;
const LINKS_PORT = 18_098;
const MiB = 1024 * 1024;
const PART = 5 * MiB;
const podmanEnv = { ...process.env, CONTAINERS_CONF };
const podman = (args: string[]) => sh("podman", args, { env: podmanEnv, maxBuffer: 16 * 1024 * 1024 });
const started: string[] = [];
let ip = "";
/** The announced front door's address: the app's callers' requests leave from it. */
let doorIp = "";
let nodeCreds: AwsCredentials;

const admin = () => ({ endpoint: rig.moto!.endpoint, region: "eu-west-1", credentials: rig.moto!.admin });
const s3 = () => new S3Client({ ...admin(), forcePathStyle: true });

async function start(role: "app" | "links", port: number): Promise<string> {
  const name = `droptest-${process.pid}-${role}`;
  started.push(name);
  const env: Record<string, string> = {
    LISTEN_ADDRESS: ip,
    PORT: String(port),
    ROLE: role,
    CLUSTER_NAME: CLUSTER,
    BUCKET,
    SENDER,
    LINK_BASE_URL: `http://${ip}:${LINKS_PORT}`,
    ETCD_ENDPOINTS: rig.etcd!.endpoints.join(","),
    PART_BYTES: String(PART),
    MAX_FILE_BYTES: String(64 * MiB),
    MAX_RECIPIENTS: "3",
    AWS_REGION: "eu-west-1",
    AWS_ENDPOINT_URL: rig.moto!.endpoint,
    AWS_ACCESS_KEY_ID: nodeCreds.accessKeyId,
    AWS_SECRET_ACCESS_KEY: nodeCreds.secretAccessKey,
    ...(nodeCreds.sessionToken ? { AWS_SESSION_TOKEN: nodeCreds.sessionToken } : {}),
  };
  const image = (
    JSON.parse(readFileSync(join(PROJECT_ROOT, ".build", "containers", "images.json"), "utf8")) as Record<
      string,
      string
    >
  ).filedrop!;
  await podman([
    "run",
    "-d",
    "--name",
    name,
    "--net",
    "host",
    ...Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
    image,
  ]);
  const up = await pollUntil(
    async () =>
      (await httpAsk({ address: ip, port }, "/healthz").catch(() => undefined))?.status === 200
        ? true
        : undefined,
    { timeoutMs: 60_000, intervalMs: 200 },
  );
  expect(up, await logsOf(name)).toBe(true);
  return name;
}

const logsOf = async (name: string) => {
  const r = await podman(["logs", name]);
  return r.stdout + r.stderr;
};

const app = (path: string, opts: Parameters<typeof httpAsk>[2] = {}, user = "alice") =>
  httpAsk({ address: ip, port: APP_PORT }, path, {
    localAddress: doorIp,
    ...opts,
    headers: {
      ...(user ? { "x-remote-user": user } : {}),
      "content-type": "application/json",
      ...opts.headers,
    },
  });

interface Plan {
  id: string;
  partBytes: number;
  parallel: number;
  parts: { partNumber: number; url: string }[];
}

/** Send the parts as the page does: straight to S3, `parallel` at a time; returns their ETags. */
async function sendParts(plan: Plan, data: Buffer) {
  const etags: { partNumber: number; etag: string }[] = [];
  let next = 0;
  const worker = async () => {
    while (next < plan.parts.length) {
      const p = plan.parts[next++]!;
      const start = (p.partNumber - 1) * plan.partBytes;
      const r = await fetch(p.url, { method: "PUT", body: data.subarray(start, start + plan.partBytes) });
      expect(r.status, await r.clone().text()).toBe(200);
      etags.push({ partNumber: p.partNumber, etag: r.headers.get("etag")! });
    }
  };
  await Promise.all(Array.from({ length: plan.parallel }, worker));
  return etags;
}

/** The mail moto's SES accepted, newest last. */
async function sentMail(): Promise<
  { source: string; destinations: { ToAddresses: string[] }; subject: string; body: string }[]
> {
  const r = await fetch(`${rig.moto!.endpoint}/moto-api/data.json`);
  const text = await r.text();
  if (r.status !== 200) throw new Error(`moto's data.json: HTTP ${r.status}`);
  const data = JSON.parse(text) as { ses?: { Message?: unknown[] } };
  return (data.ses?.Message ?? []) as never;
}

const objectsBelow = async (prefix: string) =>
  ((await s3().send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }))).Contents ?? []).map(
    (o) => o.Key!,
  );
const uploadsInProgress = async () =>
  (await s3().send(new ListMultipartUploadsCommand({ Bucket: BUCKET }))).Uploads ?? [];

beforeAll(async () => {
  ip = rig.block.address(40);
  doorIp = rig.block.address(43);
  // Front doors as presence announces them. Chromium's connections to a loopback address leave from
  // 127.0.0.1, so for the page test that address stands for a front door too.
  const etcd = new Etcd3({ hosts: rig.etcd!.endpoints });
  for (const [i, at] of [doorIp, "127.0.0.1"].entries())
    await etcd.put(`/services/nginx/instances/nginx@${i + 1}.service`).value(
      JSON.stringify({
        service: "nginx",
        instance: `nginx@${i + 1}.service`,
        privateIp: at,
        port: 80,
        ports: { http: 80 },
      }),
    );
  etcd.close();
  await s3().send(new CreateBucketCommand({ Bucket: BUCKET }));
  await new SESClient(admin()).send(new VerifyEmailIdentityCommand({ EmailAddress: SENDER }));
  nodeCreds = await rig.roleCredentials(
    templateRoleStatements("node", { bucket: BUCKET, cluster: CLUSTER, sender: SENDER }),
  );
  await sh("bash", [join(PROJECT_ROOT, "containers", "build.sh"), "filedrop"], {
    cwd: PROJECT_ROOT,
    env: podmanEnv,
    maxBuffer: 16 * 1024 * 1024,
    timeout: 900_000,
  });
  const appName = await start("app", APP_PORT);
  await start("links", LINKS_PORT);
  const doors = await pollUntil(
    async () => ((await logsOf(appName)).includes('"code":"front_doors"') ? true : undefined),
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  expect(doors, "the app read the front doors").toBe(true);
}, 900_000);

afterAll(async () => {
  for (const name of started) await podman(["rm", "-f", "-t", "10", name]).catch(() => {});
}, 60_000);

describe("file drop", () => {
  let link = "";
  const data = randomBytes(3 * PART + 12_345);

  it("uploads through presigned parts, mails the link, and the link downloads the file without a session", async () => {
    const created = await app("/api/uploads", {
      json: {
        name: "report final.bin",
        size: data.length,
        recipients: ["bob@example.test", "carol@example.test"],
        days: 2,
      },
    });
    expect(created.status, created.body).toBe(201);
    const plan = JSON.parse(created.body) as Plan;
    expect(plan.parts).toHaveLength(4);
    expect(plan.partBytes).toBe(PART);
    // The part URLs are S3's own (presigned), not the service's: the bytes never pass through it.
    for (const p of plan.parts) expect(p.url.startsWith(`${rig.moto!.endpoint}/${BUCKET}/`)).toBe(true);
    const parts = await sendParts(plan, data);
    const done = await app(`/api/uploads/${plan.id}/complete`, { json: { parts } });
    expect(done.status, done.body).toBe(200);
    link = (JSON.parse(done.body) as { link: string }).link;

    const mail = (await sentMail()).filter((m) => m.body.includes(link));
    expect(mail).toHaveLength(1);
    expect(mail[0]!.source).toBe(SENDER);
    expect(mail[0]!.destinations.ToAddresses.sort()).toEqual(["bob@example.test", "carol@example.test"]);
    const emailed = /https?:\/\/\S+\/d\/[A-Za-z0-9_-]+/.exec(mail[0]!.body)![0];
    expect(emailed).toBe(link);

    // Followed as a recipient would: no session, no X-Remote-User, on the public host.
    const u = new URL(emailed);
    const hop = await httpAsk({ address: u.hostname, port: u.port }, u.pathname);
    expect(hop.status, hop.body).toBe(303);
    const got = await fetch(hop.headers.location!);
    expect(got.status).toBe(200);
    const bytes = Buffer.from(await got.arrayBuffer());
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(
      createHash("sha256").update(data).digest("hex"),
    );
    expect(got.headers.get("content-disposition")).toContain("report final.bin");

    // Logged: who uploaded what size, and the download by its upload id; never the token.
    const token = u.pathname.split("/").pop()!;
    const appLogs = await logsOf(started[0]!);
    const linkLogs = await logsOf(started[1]!);
    expect(appLogs).toMatch(new RegExp(`"code":"upload.completed".*"user":"alice".*"size":${data.length}`));
    expect(linkLogs).toMatch(new RegExp(`"code":"download".*"upload":"${plan.id}".*"size":${data.length}`));
    expect(appLogs + linkLogs).not.toContain(token);
    // The bucket keeps only the token's hash.
    const stored = await objectsBelow(`filedrop/${CLUSTER}/`);
    expect(stored.some((k) => k.includes(token))).toBe(false);
    expect(stored).toContain(
      `filedrop/${CLUSTER}/links/${createHash("sha256").update(token).digest("hex")}.json`,
    );
    expect(await uploadsInProgress()).toEqual([]);
  });

  it("answers 410 for an expired link and 404 for an unknown one", async () => {
    expect(link).not.toBe("");
    const u = new URL(link);
    const token = u.pathname.split("/").pop()!;
    const key = `filedrop/${CLUSTER}/links/${createHash("sha256").update(token).digest("hex")}.json`;
    const record = JSON.parse(
      await (await s3().send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToString(),
    ) as { expiresAt: string };
    // The link's time passes: its record says it ended a second ago.
    record.expiresAt = new Date(Date.now() - 1000).toISOString();
    await s3().send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: JSON.stringify(record) }));
    const gone = await httpAsk({ address: u.hostname, port: u.port }, u.pathname);
    expect(gone.status).toBe(410);
    expect(gone.body).toContain("expired");
    expect(gone.headers.location).toBeUndefined();
    const guessed = await httpAsk(
      { address: u.hostname, port: u.port },
      `/d/${randomBytes(32).toString("base64url")}`,
    );
    expect(guessed.status).toBe(404);
  });

  it("refuses what is over the limits with a clear error and starts nothing", async () => {
    const before = await objectsBelow(`filedrop/${CLUSTER}/uploads/`);
    const big = await app("/api/uploads", {
      json: { name: "big", size: 65 * MiB, recipients: ["bob@example.test"] },
    });
    expect(big.status).toBe(413);
    expect(JSON.parse(big.body).error).toMatch(/limit is 67108864 bytes/);
    const many = await app("/api/uploads", {
      json: { name: "f", size: 10, recipients: ["a@x.test", "b@x.test", "c@x.test", "d@x.test"] },
    });
    expect(many.status).toBe(413);
    expect(JSON.parse(many.body).error).toMatch(/4 recipients; the limit is 3/);
    const bad = await app("/api/uploads", { json: { name: "f", size: 10, recipients: ["not-an-address"] } });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error).toMatch(/not an email address: not-an-address/);
    const long = await app("/api/uploads", {
      json: { name: "f", size: 10, recipients: ["a@x.test"], days: 30 },
    });
    expect(long.status).toBe(400);
    expect(JSON.parse(long.body).error).toMatch(/at most 14 days/);
    expect(await objectsBelow(`filedrop/${CLUSTER}/uploads/`)).toEqual(before);
    expect(await uploadsInProgress()).toEqual([]);
  });

  it("keeps uploads to their owner, refuses missing parts, aborts cleanly, and needs sign-in", async () => {
    const created = await app("/api/uploads", {
      json: { name: "x", size: 2 * PART, recipients: ["bob@example.test"] },
    });
    expect(created.status, created.body).toBe(201);
    const plan = JSON.parse(created.body) as Plan;
    const parts = await sendParts({ ...plan, parts: plan.parts.slice(0, 1) }, randomBytes(2 * PART));
    const short = await app(`/api/uploads/${plan.id}/complete`, { json: { parts } });
    expect(short.status).toBe(400);
    expect(JSON.parse(short.body).error).toMatch(/expected parts 1..2/);
    const other = await app(`/api/uploads/${plan.id}/complete`, { json: { parts } }, "mallory");
    expect(other.status).toBe(404);
    const anonymous = await app(
      "/api/uploads",
      { json: { name: "x", size: 1, recipients: ["b@x.test"] } },
      "",
    );
    expect(anonymous.status).toBe(401);
    const viaLinks = await httpAsk({ address: ip, port: LINKS_PORT }, "/api/uploads", {
      json: { name: "x", size: 1, recipients: ["b@x.test"] },
      headers: { "x-remote-user": "alice" },
    });
    expect(viaLinks.status).toBe(404);
    const aborted = await app(`/api/uploads/${plan.id}`, { method: "DELETE" });
    expect(aborted.status, aborted.body).toBe(200);
    expect(await uploadsInProgress()).toEqual([]);
    expect(await objectsBelow(`filedrop/${CLUSTER}/uploads/`)).toEqual([]);
    const again = await app(`/api/uploads/${plan.id}`, { method: "DELETE" });
    expect(again.status).toBe(404);
  });

  it("refuses an identity header that did not come from an announced front door, and creates nothing", async () => {
    const before = await objectsBelow(`filedrop/${CLUSTER}/`);
    const forged = await app(
      "/api/uploads",
      { json: { name: "x", size: 1, recipients: ["b@x.test"] }, localAddress: ip },
      "alice",
    );
    expect(forged.status).toBe(403);
    expect(JSON.parse(forged.body).error).toBe("call through the front door");
    const page = await app("/", { localAddress: ip }, "alice");
    expect(page.status).toBe(403);
    expect(page.body).not.toContain("<form");
    expect(await objectsBelow(`filedrop/${CLUSTER}/`)).toEqual(before);
    expect(await uploadsInProgress()).toEqual([]);
    // The public download host still answers anyone.
    expect((await httpAsk({ address: ip, port: LINKS_PORT }, "/healthz", { localAddress: ip })).status).toBe(
      200,
    );
  });

  it("uploads a file through the page in Chromium, parts straight to S3", async () => {
    const origin = `http://${ip}:${APP_PORT}`;
    // The bucket's CORS rule as the template writes it, for this page's origin.
    await s3().send(
      new PutBucketCorsCommand({
        Bucket: BUCKET,
        CORSConfiguration: {
          CORSRules: [
            {
              AllowedOrigins: [origin],
              AllowedMethods: ["PUT"],
              AllowedHeaders: ["*"],
              ExposeHeaders: ["ETag"],
              MaxAgeSeconds: 3600,
            },
          ],
        },
      }),
    );
    const file = randomBytes(2 * PART + 777);
    const browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_BIN ?? "/usr/bin/chromium",
    });
    try {
      const context = await browser.newContext();
      // What the front door adds after sign-in, on the service's requests only (never on S3's).
      await context.route(`${origin}/**`, (route) =>
        route.continue({ headers: { ...route.request().headers(), "x-remote-user": "alice" } }),
      );
      const page = await context.newPage();
      await page.goto(`${origin}/`);
      await page
        .getByLabel("File")
        .setInputFiles({ name: "from the page.bin", mimeType: "application/octet-stream", buffer: file });
      await page.getByLabel("Recipients (comma separated)").fill("dave@example.test");
      await page.getByRole("button", { name: "Upload and send" }).click();
      await page
        .getByRole("status")
        .filter({ hasText: /Sent to|Failed/ })
        .waitFor({ timeout: 60_000 });
      expect(await page.getByRole("status").textContent()).toMatch(
        /^Sent to dave@example.test\. The link works until /,
      );
    } finally {
      await browser.close();
    }
    const mail = (await sentMail()).filter((m) => m.destinations.ToAddresses.includes("dave@example.test"));
    expect(mail).toHaveLength(1);
    const u = new URL(/https?:\/\/\S+\/d\/[A-Za-z0-9_-]+/.exec(mail[0]!.body)![0]);
    const hop = await httpAsk({ address: u.hostname, port: u.port }, u.pathname);
    expect(hop.status).toBe(303);
    const got = Buffer.from(await (await fetch(hop.headers.location!)).arrayBuffer());
    expect(got.equals(file)).toBe(true);
  });
});
