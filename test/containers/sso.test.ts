// Sign-in at the front door, end to end on loopback: the real front door (nginx) and auth programs,
// a user pool in moto's cognito-idp (made with the template's settings), users managed by the
// `devcluster users` operations, the session key a SecureString in moto's SSM, presence records in
// a real etcd. Checks what reaches a backend, not only status codes.
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { CognitoIdentityProviderClient } from "@aws-sdk/client-cognito-identity-provider";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { announcementKeys, PresenceRecordSchema } from "../../functions/domain/presence.ts";
import { ensureUserPool } from "../../functions/adapters/aws/cognitoPool.ts";
import { cognitoUserDirectory } from "../../functions/adapters/aws/cognitoUsers.ts";
import { addUser } from "../../functions/operations/users.ts";
import { pollUntil } from "../../functions/domain/poll.ts";
import { parseKeys, signSession } from "../../containers/auth/src/session.ts";
import { useRig } from "../rig/index.ts";
import { httpAsk, type HttpAnswer } from "../rig/http.ts";
import { byCode, startProgram, usePrograms, type RunningProgram } from "./programs.ts";

const rig = useRig({ etcdMembers: 1, moto: true });
const programs = usePrograms(["frontdoor", "auth"]);
const DOMAIN = "dev.test";
const PASSWORD = "Correct-horse-42";
const KEY = randomBytes(32).toString("base64");

let etcd: Etcd3;
let dir: string;
let door: string;
const PORT = 18_090;
const servers: Server[] = [];
const procs: RunningProgram[] = [];
let authProgram: RunningProgram;
/** What each backend saw, newest last. */
const seen: { service: string; headers: IncomingHttpHeaders; from: string | undefined }[] = [];

type Answer = HttpAnswer;

/** A request to the front door for `host`, as a browser resolving the name would send it. */
const ask = (
  host: string,
  path = "/",
  opts: {
    method?: string;
    headers?: Record<string, string>;
    form?: Record<string, string>;
    signal?: AbortSignal;
  } = {},
): Promise<Answer> => httpAsk({ address: door, port: PORT }, path, { ...opts, host });

const sessionCookie = (a: Answer) => {
  const c = ([] as string[])
    .concat(a.headers["set-cookie"] ?? [])
    .find((x) => x.startsWith("devcluster_session="));
  return c?.split(";")[0];
};

async function signIn(user: string, host = `wiki.${DOMAIN}`): Promise<string> {
  const r = await ask(host, "/.auth/login", {
    form: { username: user, password: PASSWORD, rd: "/page?x=1" },
  });
  expect(r.status, r.body).toBe(303);
  expect(r.headers.location).toBe("/page?x=1");
  const set = ([] as string[]).concat(r.headers["set-cookie"] ?? []).join("\n");
  expect(set).toMatch(/HttpOnly/);
  expect(set).toMatch(/Secure/);
  expect(set).toMatch(new RegExp(`Domain=${DOMAIN.replace(".", "\\.")}`));
  return sessionCookie(r)!;
}

async function backend(ip: string, port: number, service: string) {
  const s = createServer((req, res) => {
    seen.push({ service, headers: req.headers, from: req.socket.remoteAddress });
    res.end(`${service} for ${String(req.headers["x-remote-user"] ?? "-")}\n`);
  });
  await new Promise<void>((r) => s.listen(port, ip, r));
  servers.push(s);
}

async function announce(service: string, ip: string, port: number, extra: Record<string, unknown> = {}) {
  const lease = etcd.lease(60);
  const id = await lease.grant();
  const r = PresenceRecordSchema.parse({
    service,
    instance: "1",
    node: "i-0123456789abcdef0",
    privateIp: ip,
    port,
    ports: { http: port },
    http: "http",
    ...extra,
  });
  for (const [k, v] of announcementKeys(r)) await etcd.put(k).value(v).lease(id);
}

beforeAll(async () => {
  etcd = new Etcd3({ hosts: rig.etcd!.endpoints });
  dir = mkdtempSync(join(tmpdir(), "sso-e2e-"));
  // The front door's nginx workers run as nobody: they must be able to pass through to its prefix.
  chmodSync(dir, 0o711);
  door = rig.block.address(60);
  const cognito = new CognitoIdentityProviderClient({});
  const cluster = rig.unique("sso");
  const pool = await ensureUserPool(cognito, cluster);
  const users = cognitoUserDirectory(cognito, pool.userPoolId);
  await addUser(users, "alice", { password: PASSWORD, groups: ["developers"] });
  await addUser(users, "bob", { password: PASSWORD });
  await addUser(users, "carol", { password: PASSWORD, groups: ["admins"] });
  const keyParam = `/devcluster/${cluster}/auth/session-key`;
  await new SSMClient({}).send(new PutParameterCommand({ Name: keyParam, Type: "SecureString", Value: KEY }));
  // The auth service runs as a role that may read its key and nothing else (Cognito's sign-in
  // calls need no IAM permission).
  const creds = await rig.roleCredentials([
    { Effect: "Allow", Action: "ssm:GetParameter", Resource: `arn:aws:ssm:*:*:parameter${keyParam}` },
  ]);
  const [authIp, wikiIp, teamIp, wwwIp] = [61, 62, 63, 64].map((n) => rig.block.address(n));
  await backend(wikiIp!, 8081, "wiki");
  await backend(teamIp!, 8082, "team");
  await backend(wwwIp!, 8083, "www");
  const auth = startProgram(programs.entry("auth"), {
    // Longer than the short session below lives, so only the session's expiry can end its kept decision.
    CHECK_CACHE_S: "30",
    LISTEN_ADDRESS: authIp!,
    PORT: "8090",
    DOMAIN,
    USER_POOL_ID: pool.userPoolId,
    USER_POOL_CLIENT_ID: pool.clientId,
    SESSION_KEY_PARAM: keyParam,
    AWS_REGION: process.env.AWS_REGION ?? "eu-west-1",
    AWS_ENDPOINT_URL: process.env.AWS_ENDPOINT_URL!,
    AWS_ACCESS_KEY_ID: creds.accessKeyId,
    AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
    ...(creds.sessionToken ? { AWS_SESSION_TOKEN: creds.sessionToken } : {}),
  });
  procs.push(auth);
  authProgram = auth;
  await auth.waitLog(byCode("listening"), 30_000);
  await announce("auth", authIp!, 8090, { public: true });
  await announce("wiki", wikiIp!, 8081, { groups: ["developers", "admins"] });
  await announce("team", teamIp!, 8082);
  await announce("www", wwwIp!, 8083, { public: true });
  const fd = startProgram(programs.entry("frontdoor"), {
    ETCD_ENDPOINTS: rig.etcd!.endpoints.join(","),
    DOMAIN,
    LISTEN_ADDRESS: door,
    HTTP_PORT: String(PORT),
    NGINX_PREFIX: join(dir, "fd"),
    DEBOUNCE_MS: "50",
  });
  procs.push(fd);
  await fd.waitLog(byCode("nginx.started"), 30_000);
  // Every host is rendered once the announcements are read: the first renders (and reloads, whose
  // old workers still answer for a moment) may predate some of them, so poll until each host
  // answers as its policy says, several times in a row.
  const status = async (h: string) => (await ask(`${h}.${DOMAIN}`).catch(() => undefined))?.status;
  let streak = 0;
  const ready = await pollUntil(
    async () => {
      const ok =
        (await status("www")) === 200 && (await status("wiki")) === 401 && (await status("team")) === 401;
      streak = ok ? streak + 1 : 0;
      return streak >= 5 ? true : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  );
  expect(ready).toBe(true);
}, 120_000);

afterAll(async () => {
  for (const p of procs.reverse()) await p.stop();
  for (const s of servers) s.closeAllConnections?.();
  for (const s of servers) s.close();
  etcd?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("single sign-on at the front door", () => {
  it("a protected service shows the login page (401) and is not reached without a session", async () => {
    const before = seen.length;
    const r = await ask(`wiki.${DOMAIN}`, "/page?x=1");
    expect(r.status).toBe(401);
    expect(r.body).toContain('action="/.auth/login"');
    expect(r.body).toContain('name="rd" value="/page?x=1"');
    expect(seen.length).toBe(before);
    // The check itself is internal to nginx: nobody outside can ask it.
    expect((await ask(`wiki.${DOMAIN}`, "/.auth/check")).status).toBe(404);
  });

  it("a wrong password is refused with the login page again, and no cookie", async () => {
    const r = await ask(`wiki.${DOMAIN}`, "/.auth/login", {
      form: { username: "alice", password: "not-the-password", rd: "/" },
    });
    expect(r.status).toBe(401);
    expect(r.body).toContain("wrong user name or password");
    expect(sessionCookie(r)).toBeUndefined();
  });

  it("after sign-in the backend sees X-Remote-User and X-Remote-Groups; forged ones and the session cookie never arrive", async () => {
    const cookie = await signIn("alice");
    const r = await ask(`wiki.${DOMAIN}`, "/page", {
      headers: {
        cookie: `theme=dark; ${cookie}; lang=en`,
        "x-remote-user": "mallory",
        "X-Remote-Groups": "admins",
      },
    });
    expect(r.status).toBe(200);
    expect(r.body).toBe("wiki for alice\n");
    const h = seen.at(-1)!.headers;
    expect(h["x-remote-user"]).toBe("alice");
    expect(h["x-remote-groups"]).toBe("developers");
    expect(h.cookie).not.toContain("devcluster_session");
    expect(h.cookie).toContain("theme=dark");
    expect(h.cookie).toContain("lang=en");
    // It comes from the front door's own address, whatever the client's (backends may check it).
    expect(seen.at(-1)!.from).toBe(door);
    // One cookie serves every service of the domain (Domain=dev.test).
    expect((await ask(`team.${DOMAIN}`, "/", { headers: { cookie } })).body).toBe("team for alice\n");
  });

  it("a public service needs no login and never gets identity headers from outside", async () => {
    const r = await ask(`www.${DOMAIN}`, "/", {
      headers: { "X-Remote-User": "mallory", "x-remote-groups": "admins" },
    });
    expect(r.status).toBe(200);
    expect(r.body).toBe("www for -\n");
    expect(seen.at(-1)!.headers["x-remote-user"]).toBeUndefined();
    expect(seen.at(-1)!.headers["x-remote-groups"]).toBeUndefined();
  });

  it("a user outside the service's groups gets 403; any signed-in user reaches a service without groups", async () => {
    const cookie = await signIn("bob");
    const before = seen.length;
    expect((await ask(`wiki.${DOMAIN}`, "/", { headers: { cookie } })).status).toBe(403);
    expect(seen.length).toBe(before);
    const ok = await ask(`team.${DOMAIN}`, "/", { headers: { cookie } });
    expect(ok.status).toBe(200);
    expect(seen.at(-1)!.headers["x-remote-groups"]).toBeUndefined();
  });

  it("tampered, expired and foreign-key cookies are refused", async () => {
    const cookie = await signIn("bob");
    const [name, value] = cookie.split("=") as [string, string];
    const [v, kid, payload, sig] = value.split(".") as [string, string, string, string];
    // bob claims developers: same signature over a different payload.
    const forged = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(payload, "base64url").toString()), g: ["developers"] }),
    ).toString("base64url");
    const attempts = {
      tampered: `${name}=${v}.${kid}.${forged}.${sig}`,
      flipped: `${name}=${v}.${kid}.${payload}.${sig.slice(0, -2)}${sig.endsWith("AA") ? "BB" : "AA"}`,
      expired: `${name}=${signSession({ user: "bob", groups: ["developers"], issuedAt: 1, expiresAt: Math.floor(Date.now() / 1000) - 1, mfa: false }, parseKeys(KEY))}`,
      foreign: `${name}=${signSession({ user: "bob", groups: ["developers"], issuedAt: 1, expiresAt: 4_000_000_000, mfa: false }, parseKeys(randomBytes(32).toString("base64")))}`,
      garbage: `${name}=x.y.z`,
    };
    for (const [what, c] of Object.entries(attempts)) {
      const r = await ask(`wiki.${DOMAIN}`, "/", { headers: { cookie: c } });
      expect(r.status, what).toBe(401);
    }
    // The same key signing a valid session is accepted: the refusals above are the cookies', not the key's.
    const good = signSession(
      { user: "bob", groups: ["developers"], issuedAt: 1, expiresAt: 4_000_000_000, mfa: false },
      parseKeys(KEY),
    );
    expect((await ask(`wiki.${DOMAIN}`, "/", { headers: { cookie: `${name}=${good}` } })).status).toBe(200);
  });

  it("a decision on a valid session is kept for seconds, not asked again, and never outlives the session", async () => {
    const t = Math.floor(Date.now() / 1000);
    const expiresAt = t + 6;
    const cookie = `devcluster_session=${signSession({ user: "carol", groups: ["developers"], issuedAt: t, expiresAt, mfa: false }, parseKeys(KEY))}`;
    const first = await ask(`wiki.${DOMAIN}`, "/", { headers: { cookie } });
    expect(first.status).toBe(200);
    expect(seen.at(-1)!.headers["x-remote-user"]).toBe("carol");
    // With the auth service frozen, only a kept decision can answer: the same cookie passes, as the
    // same user; a session it has not decided on yet gets no answer.
    authProgram.proc.kill("SIGSTOP");
    try {
      const kept = await ask(`wiki.${DOMAIN}`, "/", {
        headers: { cookie },
        signal: AbortSignal.timeout(2000),
      });
      expect(kept.status).toBe(200);
      expect(seen.at(-1)!.headers["x-remote-user"]).toBe("carol");
      expect(seen.at(-1)!.headers["x-remote-groups"]).toBe("developers");
      const other = `devcluster_session=${signSession({ user: "dave", groups: ["developers"], issuedAt: t, expiresAt, mfa: false }, parseKeys(KEY))}`;
      await expect(
        ask(`wiki.${DOMAIN}`, "/", { headers: { cookie: other }, signal: AbortSignal.timeout(1000) }),
      ).rejects.toThrow(/abort/i);
    } finally {
      authProgram.proc.kill("SIGCONT");
    }
    // Once the session has expired, the front door asks again and the answer is a refusal.
    await new Promise((r) => setTimeout(r, Math.max(0, (expiresAt + 1) * 1000 - Date.now())));
    expect((await ask(`wiki.${DOMAIN}`, "/", { headers: { cookie } })).status).toBe(401);
  });

  it("an admin without a second factor sets one up before any session, then signs in with a code", async () => {
    const first = await ask(`wiki.${DOMAIN}`, "/.auth/login", {
      form: { username: "carol", password: PASSWORD, rd: "/" },
    });
    expect(first.status).toBe(200);
    expect(first.body).toContain("Set up a second factor");
    expect(first.body).toContain("otpauth://totp/");
    expect(sessionCookie(first)).toBeUndefined();
    const field = (body: string, n: string) =>
      new RegExp(`name="${n}" value="([^"]*)"`).exec(body)?.[1] ?? "";
    const setup = await ask(`wiki.${DOMAIN}`, "/.auth/mfa-setup", {
      form: { username: "carol", token: field(first.body, "token"), code: "123456", rd: "/" },
    });
    expect(setup.body).toContain("second factor set up for carol");
    expect(sessionCookie(setup)).toBeUndefined();
    // Now Cognito itself asks for the code (moto accepts any code unless told to check TOTP).
    const again = await ask(`wiki.${DOMAIN}`, "/.auth/login", {
      form: { username: "carol", password: PASSWORD, rd: "/" },
    });
    expect(again.body).toContain("Verification code");
    const done = await ask(`wiki.${DOMAIN}`, "/.auth/code", {
      form: {
        username: "carol",
        session: field(again.body, "session"),
        challenge: field(again.body, "challenge"),
        code: "123456",
        rd: "/",
      },
    });
    expect(done.status).toBe(303);
    const r = await ask(`wiki.${DOMAIN}`, "/", { headers: { cookie: sessionCookie(done)! } });
    expect(r.body).toBe("wiki for carol\n");
    expect(seen.at(-1)!.headers["x-remote-groups"]).toBe("admins");
  });

  it("in a browser (Chromium): sign in through the HTTPS front door, reach the service as yourself, then every service", async () => {
    // A front door with TLS (the cookie is Secure, so the browser sends it over HTTPS only).
    const tlsDoor = rig.block.address(65);
    execFileSync(
      "openssl",
      ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=*.${DOMAIN}`, "-days", "2"].concat([
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
      ]),
      { stdio: "ignore" },
    );
    const ssm = new SSMClient({});
    const prefix = `/${rig.unique("tls")}`;
    await ssm.send(
      new PutParameterCommand({
        Name: `${prefix}/cert`,
        Type: "String",
        Value: readFileSync(join(dir, "cert.pem"), "utf8"),
      }),
    );
    await ssm.send(
      new PutParameterCommand({
        Name: `${prefix}/key`,
        Type: "SecureString",
        Value: readFileSync(join(dir, "key.pem"), "utf8"),
      }),
    );
    const fd = startProgram(programs.entry("frontdoor"), {
      ETCD_ENDPOINTS: rig.etcd!.endpoints.join(","),
      DOMAIN,
      LISTEN_ADDRESS: tlsDoor,
      HTTP_PORT: "18091",
      HTTPS_PORT: "18443",
      TLS_CERT_PARAM: `${prefix}/cert`,
      TLS_KEY_PARAM: `${prefix}/key`,
      NGINX_PREFIX: join(dir, "fd-tls"),
      DEBOUNCE_MS: "50",
      AWS_REGION: process.env.AWS_REGION ?? "eu-west-1",
      AWS_ENDPOINT_URL: process.env.AWS_ENDPOINT_URL!,
      AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID!,
      AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY!,
    });
    procs.push(fd);
    await fd.waitLog(byCode("nginx.started"), 30_000);
    const browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_BIN ?? "/usr/bin/chromium",
      // Every name of the domain resolves to this front door, as the private zone does on the cluster.
      args: [`--host-resolver-rules=MAP *.${DOMAIN} ${tlsDoor}`],
    });
    try {
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      const page = await context.newPage();
      // The first render may predate the announcements: poll until the login page is served.
      const base = `https://wiki.${DOMAIN}:18443`;
      const shown = await pollUntil(
        async () => {
          const r = await page.goto(`${base}/page?x=1`).catch(() => null);
          return r?.status() === 401 ? true : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 200 },
      );
      expect(shown).toBe(true);
      await page.getByLabel("User name").fill("alice");
      await page.getByLabel("Password").fill(PASSWORD);
      await Promise.all([
        page.waitForURL(`${base}/page?x=1`),
        page.getByRole("button", { name: "Sign in" }).click(),
      ]);
      expect(await page.textContent("body")).toBe("wiki for alice\n");
      expect(seen.at(-1)!.headers["x-remote-user"]).toBe("alice");
      const [cookie] = (await context.cookies()).filter((c) => c.name === "devcluster_session");
      expect(cookie).toMatchObject({ httpOnly: true, secure: true, domain: `.${DOMAIN}`, sameSite: "Lax" });
      // One sign-in covers the other services of the domain.
      await page.goto(`https://team.${DOMAIN}:18443/`);
      expect(await page.textContent("body")).toBe("team for alice\n");
      // Signing out ends it: the next request shows the login page again.
      await page.goto(`${base}/.auth/logout`);
      expect(page.url()).toBe(`${base}/.auth/login`);
      const after = await page.goto(`${base}/page`);
      expect(after?.status()).toBe(401);
    } finally {
      await browser.close();
    }
  }, 90_000);
});
