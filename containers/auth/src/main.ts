// auth: signs users in against the cluster's Cognito user pool and answers the front door's
// auth_request on every request to a protected service (the user and groups, 401 or 403), from a
// signed session cookie whose key lives in SSM Parameter Store.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { CognitoIdentityProviderClient } from "@aws-sdk/client-cognito-identity-provider";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { z } from "zod";
import { int, loadEnv } from "../../shared/config.ts";
import { programLogger } from "../../shared/log.ts";
import { runProgram } from "../../shared/run.ts";
import { SESSION_COOKIE } from "../../shared/sso.ts";
import { codePage, loginPage, messagePage, mfaSetupPage, newPasswordPage } from "./pages.ts";
import { cookieValue, decide, parseKeys, safeReturnPath, signSession, type SessionKey } from "./session.ts";
import { SignIn, type Step } from "./signin.ts";

const log = programLogger("auth");

const Env = z.object({
  LISTEN_ADDRESS: z.ipv4({ error: "required: the node's private address" }),
  PORT: int(1, 65535, 8090),
  DOMAIN: z
    .string({ error: "required: the cluster's domain (the session cookie covers its services)" })
    .regex(/^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$/, "a DNS name"),
  USER_POOL_ID: z
    .string({ error: "required: the user pool id" })
    .regex(/^[\w-]+_[0-9a-zA-Z]+$/, "a user pool id"),
  USER_POOL_CLIENT_ID: z.string({ error: "required: the pool's app client id" }).regex(/^[\w+]+$/),
  SESSION_KEY_PARAM: z.string({ error: "required: the SSM parameter (SecureString) of the session key" }),
  SESSION_TTL_S: int(60, 7 * 86_400, 8 * 3600),
  KEY_REFRESH_S: int(10, 86_400, 300),
  CHECK_CACHE_S: int(0, 60, 5),
  AWS_ENDPOINT_URL: z.string().optional(),
  AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER: z.string().optional(),
});

const BODY_LIMIT = 16 * 1024;

function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > BODY_LIMIT) {
        reject(new Error("form too large"));
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => resolve(new URLSearchParams(Buffer.concat(chunks).toString("utf8"))));
    req.on("error", reject);
  });
}

await runProgram(log, async () => {
  const env = loadEnv(Env);
  const ssm = new SSMClient({ maxAttempts: 5 });
  const cognito = new CognitoIdentityProviderClient({ maxAttempts: 3 });
  const endpoint = env.AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER ?? env.AWS_ENDPOINT_URL;
  const signIn = new SignIn(cognito, {
    userPoolId: env.USER_POOL_ID,
    clientId: env.USER_POOL_CLIENT_ID,
    ...(endpoint
      ? { jwksUri: `${endpoint.replace(/\/$/, "")}/${env.USER_POOL_ID}/.well-known/jwks.json` }
      : {}),
  });

  let keys: SessionKey[] = [];
  const loadKeys = async () => {
    const r = await ssm.send(new GetParameterCommand({ Name: env.SESSION_KEY_PARAM, WithDecryption: true }));
    const next = parseKeys(r.Parameter?.Value ?? "");
    const ids = next.map((k) => k.id).join(",");
    if (ids !== keys.map((k) => k.id).join(",")) log.info("keys.loaded", { code: "keys.loaded", ids });
    keys = next;
  };
  // Without its key nobody could be signed in: refuse to start.
  await loadKeys();
  const keyTimer = setInterval(
    () =>
      void loadKeys().catch((e: unknown) =>
        log.error("keys.refresh_failed", { error: (e as Error).message }),
      ),
    env.KEY_REFRESH_S * 1000,
  );
  await signIn.loaded();

  const now = () => Math.floor(Date.now() / 1000);
  const cookieAttrs = `Domain=${env.DOMAIN}; Path=/; HttpOnly; Secure; SameSite=Lax`;
  const send = (
    res: ServerResponse,
    status: number,
    body = "",
    headers: Record<string, string | string[]> = {},
  ) => {
    res.writeHead(status, {
      "cache-control": "no-store",
      ...(body
        ? {
            "content-type": "text/html; charset=utf-8",
            "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
            "x-frame-options": "DENY",
          }
        : {}),
      ...headers,
    });
    res.end(body);
  };

  const outcome = (res: ServerResponse, step: Step, rd: string) => {
    switch (step.kind) {
      case "signedIn": {
        const t = now();
        const value = signSession(
          {
            user: step.user,
            groups: step.groups,
            issuedAt: t,
            expiresAt: t + env.SESSION_TTL_S,
            mfa: step.mfa,
          },
          keys,
        );
        log.info("signin.ok", { code: "signin.ok", user: step.user, groups: step.groups, mfa: step.mfa });
        return send(res, 303, "", {
          location: safeReturnPath(rd),
          "set-cookie": `${SESSION_COOKIE}=${value}; ${cookieAttrs}; Max-Age=${env.SESSION_TTL_S}`,
        });
      }
      case "code":
        return send(
          res,
          200,
          codePage({ rd, username: step.user, session: step.session, challenge: step.challenge }),
        );
      case "newPassword":
        return send(res, 200, newPasswordPage({ rd, username: step.user, session: step.session }));
      case "mfaSetup":
        log.info("signin.mfa_setup", { code: "signin.mfa_setup", user: step.user });
        return send(
          res,
          200,
          mfaSetupPage(
            { rd, username: step.user, token: step.accessToken },
            step.secret,
            step.user,
            env.DOMAIN,
          ),
        );
      case "refused":
        log.info("signin.refused", { code: "signin.refused", reason: step.message });
        return send(res, 401, loginPage(rd, step.message));
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://auth.invalid");
    const path = url.pathname;
    if (path === "/.auth/check") {
      const allowed = String(req.headers["x-devcluster-groups"] ?? "")
        .split(/[\s,]+/)
        .filter(Boolean);
      const t = now();
      const d = decide(cookieValue(req.headers.cookie, SESSION_COOKIE), allowed, keys, t);
      if (d.status === 401) return send(res, 401);
      // The front door may keep a decision on a valid session for a few seconds (never past the
      // session's expiry: `t` is rounded down, hence the second less), so a signed-in user's
      // requests do not each cost a round trip here.
      const keep = Math.min(env.CHECK_CACHE_S, d.session.expiresAt - t - 1);
      const cache: Record<string, string> = keep > 0 ? { "x-accel-expires": String(keep) } : {};
      if (d.status === 403) return send(res, 403, "", cache);
      return send(res, 200, "", {
        ...cache,
        "x-remote-user": d.session.user,
        "x-remote-groups": d.session.groups.join(","),
      });
    }
    if (path === "/.auth/healthz") return send(res, keys.length ? 200 : 503);
    if (path === "/.auth/login" && req.method !== "POST") {
      const original = String(req.headers["x-original-uri"] ?? "");
      const rd = url.searchParams.get("rd") ?? (original.startsWith("/.auth/") ? "/" : original);
      return send(res, 200, loginPage(safeReturnPath(rd)));
    }
    if (path === "/.auth/logout") {
      return send(res, 303, "", {
        location: "/.auth/login",
        "set-cookie": `${SESSION_COOKIE}=; ${cookieAttrs}; Max-Age=0`,
      });
    }
    if (req.method !== "POST") return send(res, 404, messagePage("Not found", "no such page"));
    const f = await readForm(req);
    const rd = safeReturnPath(f.get("rd") ?? "/");
    const user = f.get("username") ?? "";
    if (path === "/.auth/login")
      return outcome(res, await signIn.password(user, f.get("password") ?? ""), rd);
    if (path === "/.auth/code") {
      const challenge = f.get("challenge") === "SMS_MFA" ? "SMS_MFA" : "SOFTWARE_TOKEN_MFA";
      return outcome(
        res,
        await signIn.code(user, challenge, f.get("session") ?? "", f.get("code") ?? ""),
        rd,
      );
    }
    if (path === "/.auth/new-password")
      return outcome(
        res,
        await signIn.newPassword(user, f.get("session") ?? "", f.get("password") ?? ""),
        rd,
      );
    if (path === "/.auth/mfa-setup")
      return outcome(res, await signIn.finishMfaSetup(user, f.get("token") ?? "", f.get("code") ?? ""), rd);
    return send(res, 404, messagePage("Not found", "no such page"));
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      log.error("request.failed", { path: req.url?.split("?")[0], error: (e as Error).message });
      if (!res.headersSent)
        send(res, 502, messagePage("Sign-in unavailable", "the user pool did not answer; try again"));
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(env.PORT, env.LISTEN_ADDRESS, resolve);
  });
  log.info("listening", { code: "listening", address: env.LISTEN_ADDRESS, port: env.PORT });
  const failed = new Promise<never>((_, reject) => server.on("error", reject));

  return {
    failed,
    async stop() {
      clearInterval(keyTimer);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
    },
  };
});
