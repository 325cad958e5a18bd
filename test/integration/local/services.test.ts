// The team's services on a whole local cluster, as real containers of the default catalog: a user
// made with the real Cognito API (moto's cognito-idp) signs in through the auth service at the
// front door; the file drop, reached through the front door, plans an upload whose parts go
// straight to moto's S3, mails the link through moto's SES (read back from moto's sent messages),
// and the link's public host serves the file without a session; the API proxy serves a route of the
// pushed catalog through the front door against a fake paid API on loopback that refuses any call
// without the key, answers a second GET from the cluster's Redis, and refuses a route whose key is
// missing without calling upstream. Everything is asked for by name at a front door, as a browser
// resolving <service>.<domain> would, over HTTPS (the cluster's front doors serve a certificate from
// a CA made for it, which the requests check). Then all of it once more in Debian's Chromium, and an
// SSH key added on the sshkeys page, found in the signed list hosts read.
import { execFile, execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createServer, type Server } from "node:http";
import { CognitoIdentityProviderClient } from "@aws-sdk/client-cognito-identity-provider";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readCatalogDir } from "../../../functions/catalog/index.ts";
import { cognitoUserDirectory } from "../../../functions/adapters/aws/cognitoUsers.ts";
import { addUser } from "../../../functions/operations/users.ts";
import { pollUntil } from "../../../functions/domain/poll.ts";
import { attach, kill, status } from "../../../local/cluster/cluster.ts";
import { LOCAL_REGION } from "../../../local/moto.ts";
import { useLocalCluster } from "../../rig/localCluster.ts";
import { httpAsk, type HttpAnswer } from "../../rig/http.ts";
import { frontDoorSites, type AskOptions } from "../../rig/frontDoorSites.ts";

const lc = useLocalCluster({ name: "services", frontDoorTls: true, services: "sftp" });
const run = promisify(execFile);
const PASSWORD = "Correct-horse-42";
const KEY = "local-paid-KEY-7c2e91d04b";
const UPSTREAM_PORT = 18_400;
const MiB = 1024 * 1024;

let upstream: Server;
let upstreamAt = "";
/** What the fake paid API saw: the path and the key it got. */
const calls: { path: string; key: string | undefined }[] = [];
let cookie = "";
/** The cluster's front-door CA (what a client of the cluster trusts). */
let ca = "";

const admin = () => ({
  endpoint: lc.state.motoEndpoint,
  region: LOCAL_REGION,
  credentials: lc.state.admin,
});

// Generous: on a loaded machine (load 100 seen) a signed-in call that reaches S3 took over 10 s.
const sites = frontDoorSites(lc, { ca: () => ca, cookie: () => cookie });
const { frontDoor, ask } = sites;
const askUntil = (
  service: string,
  path: string,
  ok: (a: HttpAnswer) => boolean,
  opts?: AskOptions,
  timeoutMs = 240_000,
) => sites.askUntil(service, path, ok, opts, timeoutMs);

/**
 * A new ed25519 key pair made by ssh-keygen (the private key in `file`, for the SFTP client): the
 * public key in OpenSSH's one-line form, its data, and its SHA256 fingerprint as ssh-keygen prints it.
 */
function ed25519KeyPair(comment: string): { file: string; key: string; fingerprint: string; data: string } {
  const file = join(mkdtempSync(join(tmpdir(), "services-key-")), "id_ed25519");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", file]);
  const key = readFileSync(`${file}.pub`, "utf8").trim();
  const data = key.split(" ")[1]!;
  return {
    file,
    key,
    data,
    fingerprint: `SHA256:${createHash("sha256").update(Buffer.from(data, "base64")).digest("base64").replace(/=+$/, "")}`,
  };
}
const aliceKey = ed25519KeyPair("alice@laptop");

/** The mail moto's SES accepted, newest last. */
async function sentMail(): Promise<
  { source: string; destinations: { ToAddresses: string[] }; body: string }[]
> {
  const r = await fetch(`${lc.state.motoEndpoint}/moto-api/data.json`);
  if (r.status !== 200) throw new Error(`moto's data.json: HTTP ${r.status}`);
  const data = (await r.json()) as { ses?: { Message?: unknown[] } };
  return (data.ses?.Message ?? []) as never;
}

beforeAll(async () => {
  ca = readFileSync(lc.state.frontDoorTls!.caFile, "utf8");
  // The fake paid API, on a loopback address of the cluster's block that no node uses.
  upstreamAt = `${lc.block.prefix}.255.200`;
  upstream = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://upstream");
    const key = req.headers["x-api-key"] ? String(req.headers["x-api-key"]) : undefined;
    calls.push({ path: url.pathname, key });
    if (key !== KEY) {
      res.writeHead(401, { "content-type": "application/json" }).end('{"error":"bad key"}');
      return;
    }
    res
      .writeHead(200, { "content-type": "application/json" })
      .end(JSON.stringify({ path: url.pathname, q: url.searchParams.get("q"), n: calls.length }));
  });
  await new Promise<void>((r) => upstream.listen(UPSTREAM_PORT, upstreamAt, r));
  // An account, as `devcluster users add` makes it: the real Cognito API (moto's cognito-idp).
  const cognito = new CognitoIdentityProviderClient(admin());
  await addUser(cognitoUserDirectory(cognito, lc.state.userPool!.userPoolId), "alice", {
    password: PASSWORD,
    groups: ["developers"],
  });
}, 60_000);

afterAll(async () => {
  await new Promise<void>((r) => (upstream ? upstream.close(() => r()) : r()));
});

// One scenario: each test starts from the state the one before it left (kept in order under --sequence.shuffle).
describe("the team's services on the local cluster", { shuffle: false }, () => {
  it("signs alice in through the auth service at the front door", async () => {
    const signed = await askUntil(
      "filedrop",
      "/.auth/login",
      (a) => a.status === 303,
      { form: { username: "alice", password: PASSWORD, rd: "/" } },
      300_000,
    );
    const set = ([] as string[]).concat(signed.headers["set-cookie"] ?? []).join("\n");
    expect(set).toMatch(/HttpOnly/);
    expect(set).toMatch(/Secure/);
    cookie = signed.cookies.find((c) => c.startsWith("devcluster_session="))!;
    expect(cookie).toBeDefined();
    // Plain HTTP only redirects: the session never travels in clear.
    const door = await frontDoor();
    const plain = await httpAsk({ address: door!, port: 80 }, "/api/limits", {
      host: `filedrop.${lc.state.domain}`,
      headers: { cookie },
    });
    expect(plain.status).toBe(301);
    expect(plain.headers.location).toBe(`https://filedrop.${lc.state.domain}/api/limits`);
    // Without the session the front door sends the browser to sign in, never to the service.
    const saved = cookie;
    cookie = "";
    const anonymous = await ask("filedrop", "/api/limits");
    cookie = saved;
    expect(anonymous?.status).not.toBe(200);
  }, 360_000);

  it("the file drop mails a link through SES, and the link serves the file without a session", async () => {
    // Up behind the front door and trusting it (its identity headers reach the service).
    await askUntil("filedrop", "/api/limits", (a) => a.status === 200);
    // The same header sent straight to the service, not from a front door: refused.
    const drop = (await status(lc.dir)).services
      .find((x) => x.name === "filedrop")
      ?.instances.find((i) => i.healthy);
    expect(drop).toBeDefined();
    const forged = await httpAsk({ address: drop!.address, port: drop!.port }, "/api/limits", {
      headers: { "x-remote-user": "alice" },
    });
    expect(forged.status).toBe(403);

    const data = randomBytes(5 * MiB + 4321);
    // Asked again only when no answer came (a lost answer leaves at most an unused upload, which
    // the bucket's rule aborts).
    const created = await askUntil("filedrop", "/api/uploads", () => true, {
      json: { name: "local report.bin", size: data.length, recipients: ["bob@example.test"], days: 1 },
    });
    expect(created?.status, created?.body).toBe(201);
    const plan = JSON.parse(created!.body) as {
      id: string;
      partBytes: number;
      parts: { partNumber: number; url: string }[];
    };
    // The parts go straight to S3 (moto) through the presigned URLs, as the page sends them.
    const parts: { partNumber: number; etag: string }[] = [];
    for (const p of plan.parts) {
      expect(p.url.startsWith(`${lc.state.motoEndpoint}/`)).toBe(true);
      const from = (p.partNumber - 1) * plan.partBytes;
      const r = await fetch(p.url, { method: "PUT", body: data.subarray(from, from + plan.partBytes) });
      expect(r.status, await r.clone().text()).toBe(200);
      parts.push({ partNumber: p.partNumber, etag: r.headers.get("etag")! });
    }
    const done = await ask("filedrop", `/api/uploads/${plan.id}/complete`, { json: { parts } });
    expect(done?.status, done?.body).toBe(200);
    const link = (JSON.parse(done!.body) as { link: string }).link;
    expect(link.startsWith(`https://filedrop-links.${lc.state.domain}/d/`)).toBe(true);

    // The mail, as moto's SES accepted it from the verified sender.
    const mail = (await sentMail()).filter((m) => m.body.includes(link));
    expect(mail).toHaveLength(1);
    expect(mail[0]!.source).toBe(`filedrop@${lc.state.domain}`);
    expect(mail[0]!.destinations.ToAddresses).toEqual(["bob@example.test"]);

    // Followed as the recipient would: the public host at the front door, no session.
    const saved = cookie;
    cookie = "";
    const path = new URL(/https?:\/\/\S+\/d\/[A-Za-z0-9_-]+/.exec(mail[0]!.body)![0]).pathname;
    const hop = await askUntil("filedrop-links", path, (a) => a.status === 303);
    cookie = saved;
    const got = await fetch(hop.headers.location!);
    expect(got.status).toBe(200);
    const bytes = Buffer.from(await got.arrayBuffer());
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(
      createHash("sha256").update(data).digest("hex"),
    );
  }, 360_000);

  it("the API proxy serves a pushed route through the front door: the key reaches the upstream, a second GET comes from Redis, a route without its key is refused without a call", async () => {
    // The operator stores the purchased key (never a node) and adds the routes to the catalog.
    await new SSMClient(admin()).send(
      new PutParameterCommand({
        Name: `/devcluster/${lc.state.clusterName}/api/paid/key`,
        Value: KEY,
        Type: "SecureString",
        Overwrite: true,
      }),
    );
    // The cluster's catalog as its functions read it: the default one and the team's sftp.
    const catalog = readCatalogDir(undefined, ["sftp"]);
    const base = `http://${upstreamAt}:${UPSTREAM_PORT}/v1`;
    catalog["apiproxy@.service"] +=
      `ApiRoute=paid ${base} header:X-Api-Key groups=developers ttl=300\n` +
      `ApiRoute=unpaid ${base} header:X-Api-Key groups=developers\n`;
    const { fns } = await attach(lc.dir);
    // The routes stay for the browser's call below.
    await fns.units({ catalog });
    // The proxy restarts with its routes (before that: 404 for an unknown route).
    const first = await askUntil("apiproxy", "/paid/items?q=1", (a) => a.status === 200);
    expect(JSON.parse(first.body)).toMatchObject({ path: "/v1/items", q: "1" });
    expect(first.headers["x-cache"]).toBe("miss");
    expect(first.body).not.toContain(KEY);
    const reached = calls.filter((c) => c.path === "/v1/items");
    expect(reached.length).toBeGreaterThanOrEqual(1);
    expect(reached.every((c) => c.key === KEY)).toBe(true);
    // The second GET: from the cluster's Redis, the upstream not called again.
    const before = calls.length;
    const second = await ask("apiproxy", "/paid/items?q=1");
    expect(second?.status).toBe(200);
    expect(second?.headers["x-cache"]).toBe("hit");
    expect(second?.body).toBe(first.body);
    expect(calls.length).toBe(before);
    // A route whose key is not stored: a clear error, and nothing reaches the upstream.
    const unpaid = await ask("apiproxy", "/unpaid/items");
    expect(unpaid?.status).toBe(503);
    expect(JSON.parse(unpaid!.body)).toMatchObject({ code: "key.missing" });
    expect(JSON.parse(unpaid!.body).error).toMatch(/route 'unpaid' has no key yet/);
    expect(calls.length).toBe(before);
    // Without a session: the front door refuses before the proxy is asked.
    const saved = cookie;
    cookie = "";
    const anonymous = await ask("apiproxy", "/paid/items?q=2");
    cookie = saved;
    expect(anonymous?.status).not.toBe(200);
    expect(calls.length).toBe(before);
  }, 360_000);
  it("in Chromium: signs in, uploads on the file drop page, the mailed link downloads the file without a session, an API answers through the proxy", async () => {
    const door = await frontDoor();
    expect(door).toBeDefined();
    const domain = lc.state.domain;
    const { key: sshKey, fingerprint, data: sshKeyData } = aliceKey;
    const browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_BIN ?? "/usr/bin/chromium",
      // Every name of the domain resolves to a front door, as the private zone does on the cluster.
      args: [`--host-resolver-rules=MAP *.${domain} ${door}`],
    });
    try {
      // The cluster's own CA is not in this browser's store: certificate errors are ignored here only.
      const context = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true });
      const page = await context.newPage();
      // What the browser could not fetch, for the assertion's message.
      const failures: string[] = [];
      page.on("requestfailed", (r) => failures.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
      page.on("console", (m) => m.type() === "error" && failures.push(`console: ${m.text()}`));
      const base = `https://filedrop.${domain}`;
      const login = await page.goto(`${base}/`);
      expect(login?.status()).toBe(401);
      await page.getByLabel("User name").fill("alice");
      await page.getByLabel("Password").fill(PASSWORD);
      await Promise.all([page.waitForURL(`${base}/`), page.getByRole("button", { name: "Sign in" }).click()]);
      const [session] = (await context.cookies()).filter((c) => c.name === "devcluster_session");
      expect(session).toMatchObject({ httpOnly: true, secure: true, domain: `.${domain}` });

      // The file drop's page: the parts go from the browser straight to S3 (moto), the link is mailed.
      const file = randomBytes(6 * MiB + 999);
      await page
        .getByLabel("File")
        .setInputFiles({ name: "from chromium.bin", mimeType: "application/octet-stream", buffer: file });
      await page.getByLabel("Recipients (comma separated)").fill("erin@example.test");
      await page.getByRole("button", { name: "Upload and send" }).click();
      await page
        .getByRole("status")
        .filter({ hasText: /Sent to|Failed/ })
        .waitFor({ timeout: 120_000 });
      expect(await page.getByRole("status").textContent(), failures.join("\n")).toMatch(
        /^Sent to erin@example.test\. /,
      );
      const mail = (await sentMail()).filter((m) => m.destinations.ToAddresses.includes("erin@example.test"));
      expect(mail).toHaveLength(1);
      const link = /https:\/\/\S+\/d\/[A-Za-z0-9_-]+/.exec(mail[0]!.body)![0];

      // The recipient: another browser context, no session; the link downloads the file.
      const stranger = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true });
      try {
        const tab = await stranger.newPage();
        const [download] = await Promise.all([
          tab.waitForEvent("download", { timeout: 60_000 }),
          tab.goto(link).catch(() => null),
        ]);
        const saved = readFileSync((await download.path())!);
        expect(createHash("sha256").update(saved).digest("hex")).toBe(
          createHash("sha256").update(file).digest("hex"),
        );
        expect(download.suggestedFilename()).toBe("from chromium.bin");
        expect(await stranger.cookies()).toEqual([]);
      } finally {
        await stranger.close();
      }

      // An API through the proxy, with the session: the key reaches the fake upstream, never the page.
      const before = calls.length;
      const api = await page.goto(`https://apiproxy.${domain}/paid/browser?q=chromium`);
      expect(api?.status()).toBe(200);
      const body = await api!.text();
      expect(JSON.parse(body)).toMatchObject({ path: "/v1/browser", q: "chromium" });
      expect(body).not.toContain(KEY);
      expect(calls.slice(before)).toEqual([{ path: "/v1/browser", key: KEY }]);

      // An SSH key added on the sshkeys page: listed with its fingerprint, and in the signed list
      // hosts read from the public lists host.
      const keysPage = await page.goto(`https://sshkeys.${domain}/`);
      expect(keysPage?.status()).toBe(200);
      await page.getByLabel("SSH public key").fill(sshKey);
      await page.getByRole("button", { name: "Add key" }).click();
      await page
        .getByRole("status")
        .filter({ hasText: /Added|Failed/ })
        .waitFor({ timeout: 60_000 });
      expect(await page.getByRole("status").textContent(), failures.join("\n")).toBe(`Added ${fingerprint}`);
      await expect
        .poll(() => page.getByRole("table", { name: "Your keys" }).textContent(), { timeout: 30_000 })
        .toContain(fingerprint);
    } finally {
      await browser.close();
    }
    // A lists instance that read the pool's users before alice was made lists her once its read is
    // older than DIRECTORY_CACHE_S (30 s) and the next one has come back: ask until the key is there.
    const list = await askUntil(
      "sshkeys-lists",
      "/v1/keys/alice",
      (a) => a.status === 200 && a.body.includes(sshKeyData),
    );
    expect(list.body).toMatch(/^subject alice$/m);
    expect(list.body).toContain(sshKeyData);
  }, 300_000);

  it("SFTP through the front door's TCP port: alice stores a file with the key she added; it is there after the node running sftp is killed", async () => {
    const sftpNode = () =>
      status(lc.dir).then(
        (s) => s.services.find((x) => x.name === "sftp")?.instances.find((i) => i.healthy)?.node,
      );
    const first = await pollUntil(sftpNode, { timeoutMs: 240_000, intervalMs: 1000 });
    expect(first).toBeDefined();
    // A front door on another node: it stays while the sftp node dies, so its host key must match.
    const door = (await status(lc.dir)).services
      .find((x) => x.name === "nginx")
      ?.instances.find((i) => i.healthy && i.node !== first)?.address;
    expect(door).toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), "services-sftp-"));
    writeFileSync(join(dir, "notes.txt"), "kept across a node kill\n");
    const sftp = (batch: string) => {
      writeFileSync(join(dir, "batch"), batch);
      return run("sftp", [
        ...[
          "-i",
          aliceKey.file,
          "-o",
          "IdentitiesOnly=yes",
          "-o",
          "BatchMode=yes",
          "-o",
          "ConnectTimeout=10",
        ],
        ...["-o", `UserKnownHostsFile=${join(dir, "known_hosts")}`, "-o", "StrictHostKeyChecking=accept-new"],
        ...["-P", "2022", "-b", join(dir, "batch"), `alice@${door}`],
      ]).then(
        () => true,
        (e: { stderr?: string }) => ((last = e.stderr ?? ""), undefined),
      );
    };
    let last = "";
    // alice's account appears at sftp's next sync after she was added (every 60 s).
    const put = await pollUntil(() => sftp(`put ${join(dir, "notes.txt")}\n`), {
      timeoutMs: 180_000,
      intervalMs: 2000,
    });
    expect(put, last).toBe(true);
    await kill(lc.dir, first!, () => {});
    const moved = await pollUntil(
      async () => {
        const n = await sftpNode();
        return n && n !== first ? n : undefined;
      },
      { timeoutMs: 240_000, intervalMs: 1000 },
    );
    expect(moved).toBeDefined();
    // The same host key (strict checking of the known front door) and the file, from the moved volume.
    const got = await pollUntil(() => sftp(`get notes.txt ${join(dir, "back.txt")}\n`), {
      timeoutMs: 120_000,
      intervalMs: 2000,
    });
    expect(got, last).toBe(true);
    expect(readFileSync(join(dir, "back.txt"), "utf8")).toBe("kept across a node kill\n");
    rmSync(dir, { recursive: true, force: true });
  }, 600_000);
});
